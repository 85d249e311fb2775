"""The "check this stream" action: the one time the hub connects to a user's URL, never to an
address only the hub can reach."""

from __future__ import annotations

import pytest

from hub.errors import Invalid
from hub.stream_check import check_stream, refused_reason
from tests.agent.relay_stream import station  # noqa: F401  (fixture)

# Nothing here touches the store beyond signing in: one lane is enough.
pytestmark = pytest.mark.sqlite_only


REFUSED = [
    "http://127.0.0.1:8000/api/v1/plugins",
    "http://localhost/",
    "http://10.1.2.3/vov.mp3",
    "http://192.168.1.1/",
    "http://172.16.0.9/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:8000/",
    "http://[fe80::1]/",
    "http://224.0.0.251/",
    "http://0.0.0.0/",
    "http://[::ffff:127.0.0.1]/",
    "http://2130706433/",  # 127.0.0.1 written as one number
]


def test_addresses_only_the_hub_could_reach_are_refused(desk):
    for url in REFUSED:
        r = desk.client.post("/api/v1/playlists/check-stream", json={"url": url}, headers=desk.approver)
        assert r.status_code == 422, (url, r.text)
        assert "the hub does not connect there" in r.json()["detail"], url


def test_bad_shapes_and_who_may_check(desk):
    for url in ("ftp://radio.example/x", "http://radio.example/a b"):
        r = desk.client.post("/api/v1/playlists/check-stream", json={"url": url}, headers=desk.approver)
        assert r.status_code == 422 and "stream_url" in r.json()["detail"]
    assert desk.client.post("/api/v1/playlists/check-stream", json={"url": "x" * 2001},
                            headers=desk.approver).status_code == 422
    assert desk.client.post("/api/v1/playlists/check-stream", json={"url": "http://a.example/"}).status_code == 401
    monitor = desk.people.user("m", "monitor")
    assert desk.client.post("/api/v1/playlists/check-stream", json={"url": "http://a.example/"},
                            headers=monitor).status_code == 403


def test_one_private_address_among_public_ones_refuses_the_whole_name():
    with pytest.raises(Invalid, match="private address"):
        check_stream("http://radio.example/vov.mp3", resolve=lambda host, port: ["93.184.216.34", "10.0.0.7"])
    assert refused_reason("93.184.216.34") is None
    assert refused_reason("100.64.0.1") == "not public"


def test_the_check_connects_to_the_checked_address_with_the_name_as_host(station):
    port = int(station.url.split(":")[2].split("/")[0])
    allow = {"127.0.0.1"}.__contains__
    report = check_stream(f"http://radio.example:{port}/vov1.mp3", resolve=lambda host, p: ["127.0.0.1"],
                          allow=allow, max_bytes=2000)
    assert report["ok"] is True, report
    assert (report["status"], report["content_type"], report["address"]) == (200, "audio/mpeg", "127.0.0.1")
    assert report["bytes_read"] == 2000
    assert station.hosts[-1] == f"radio.example:{port}"
    # Off the air: a true answer, not an error page.
    station.cut(5)
    down = check_stream(station.url, allow=allow)
    assert (down["ok"], down["status"]) == (False, 503) and "503" in down["error"]


def test_the_service_checks_through_the_same_rule(desk, station):
    from hub.auth import Principal

    editor = Principal("u1", "editor", "editor")
    report = desk.hub.services.playlists.check_stream(editor, station.url, allow={"127.0.0.1"}.__contains__)
    assert report["status"] in (200, 503)
    with pytest.raises(Invalid):
        desk.hub.services.playlists.check_stream(editor, station.url)
