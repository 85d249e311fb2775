"""GET /media/{sha256}: ETag, 304, Range, malformed names, and who may fetch without a token."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from hub import hookimpl
from hub.app import create_app
from hub.config import Settings
from hub.http import etag_matches
from hub.plugin_types import RenderContext, RenderedMedia, Renderer
from hub.plugins import make_plugin_manager
from tests.conftest import People, bulletin_payload


def _render(ctx: RenderContext) -> list[RenderedMedia]:
    # Bytes differ per bulletin and revision so each test's media is its own file.
    data = b"".join(f"{ctx.bulletin.id}:{ctx.bulletin.revision}:{i:04d};".encode() for i in range(40))
    return [RenderedMedia(kind="audio", mime="audio/mpeg", data=data, duration_s=1.0, meta={"engine": "tiny"})]


class TinyAudio:
    """A throwaway renderer: real artifacts through the real pipeline, without speech or drawing."""

    @hookimpl
    def hub_register_renderers(self) -> list[Renderer]:
        return [Renderer(name="tiny-audio", channel="speaker", extra_channels=("web",), render=_render)]


def tiny_plugin_manager(settings):
    """Only the throwaway renderer: these tests must not depend on the built-in plugins' state."""
    pm = make_plugin_manager(settings, entrypoints=False)
    pm.register(TinyAudio(), name="tiny-audio")
    return pm


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One hub for the module: every test makes, approves and renders its own bulletin."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("media") / "var", workers=0)
    with TestClient(create_app(settings, pm=tiny_plugin_manager(settings))) as client:
        people = People(client.app.state.hub)
        people.commune("C1")
        team = SimpleNamespace(author=people.user("author", "editor"), approver=people.user("approver", "editor"),
                               device=people.device("loa-1", "C1"), device_token=people.tokens["loa-1"],
                               board=people.device("bang-1", "C1", kind="display"),
                               board_token=people.tokens["bang-1"])
        yield SimpleNamespace(client=client, hub=client.app.state.hub, team=team)


@pytest.fixture
def client(world):
    return world.client


@pytest.fixture
def hub(world):
    return world.hub


@pytest.fixture
def team(world):
    return world.team


def approved_media(client, hub, team, **overrides) -> tuple[str, dict]:
    """Create, approve and render a bulletin; its id and its one audio artifact."""
    created = client.post("/api/v1/bulletins", json=bulletin_payload(**overrides), headers=team.author)
    assert created.status_code == 201, created.text
    bid = created.json()["id"]
    assert client.post(f"/api/v1/bulletins/{bid}/submit", headers=team.author).status_code == 200
    assert client.post(f"/api/v1/bulletins/{bid}/approve", headers=team.approver).status_code == 200
    while hub.pipeline.run_one():
        pass
    artifacts = client.get(f"/api/v1/bulletins/{bid}/artifacts", headers=team.author).json()
    assert [a["kind"] for a in artifacts] == ["audio"]
    return bid, artifacts[0]


def test_web_media_is_public_with_etag_and_immutable_caching(client, hub, team):
    _bid, art = approved_media(client, hub, team)
    r = client.get(art["url"])
    assert r.status_code == 200
    assert hashlib.sha256(r.content).hexdigest() == art["sha256"]
    assert len(r.content) == art["bytes"]
    assert r.headers["etag"] == f'"{art["sha256"]}"'
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-type"].startswith("audio/mpeg")
    assert "immutable" in r.headers["cache-control"]


@pytest.mark.parametrize(("header", "expected"), [
    ('"abc"', True), (b'"abc"', True), ('W/"abc"', True), ('"x", W/"abc" ,"y"', True), ("*", True),
    ('"abcd"', False), ('"ab"', False), ("", False), (None, False), ("abc", False),
])
def test_etag_matches_is_the_weak_comparison_of_rfc_9110(header, expected):
    assert etag_matches(header, '"abc"') is expected
    assert etag_matches(header, 'W/"abc"') is expected


@pytest.mark.parametrize("if_none_match", ['"{sha}"', '"0000", "{sha}"', 'W/"{sha}"', "*"])
def test_if_none_match_gives_304(client, hub, team, if_none_match):
    _bid, art = approved_media(client, hub, team)
    r = client.get(art["url"], headers={"If-None-Match": if_none_match.format(sha=art["sha256"])})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["etag"] == f'"{art["sha256"]}"'
    other = client.get(art["url"], headers={"If-None-Match": '"' + "0" * 64 + '"'})
    assert other.status_code == 200


def test_range_requests(client, hub, team):
    _bid, art = approved_media(client, hub, team)
    whole = client.get(art["url"]).content
    size = len(whole)
    cases = {
        "bytes=0-9": (0, 9),
        "bytes=10-": (10, size - 1),
        "bytes=-5": (size - 5, size - 1),
        f"bytes=100-{size + 1000}": (100, size - 1),  # an end past the file is cut to the file
    }
    for header, (first, last) in cases.items():
        r = client.get(art["url"], headers={"Range": header})
        assert r.status_code == 206, header
        assert r.content == whole[first:last + 1], header
        assert r.headers["content-range"] == f"bytes {first}-{last}/{size}", header
        assert r.headers["accept-ranges"] == "bytes"
        assert r.headers["etag"] == f'"{art["sha256"]}"'


def test_unsatisfiable_range_is_416_json(client, hub, team):
    _bid, art = approved_media(client, hub, team)
    size = art["bytes"]
    for header in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        r = client.get(art["url"], headers={"Range": header})
        assert r.status_code == 416, header
        assert r.headers["content-range"] == f"bytes */{size}"
        assert "detail" in r.json()


@pytest.mark.parametrize("header", ["bytes=abc", "items=0-9", "bytes=9-2", "bytes=-", "bytes=0-1,4-5",
                                    "0-9", "bytes=" + "9" * 5000 + "-"])
def test_a_range_we_do_not_understand_is_ignored(client, hub, team, header):
    """RFC 9110 lets a server ignore a Range it does not understand: the whole file, never a 4xx/5xx."""
    _bid, art = approved_media(client, hub, team)
    r = client.get(art["url"], headers={"Range": header})
    assert r.status_code == 200
    assert hashlib.sha256(r.content).hexdigest() == art["sha256"]


def test_malformed_or_unknown_names_are_404(client, hub, team):
    _bid, art = approved_media(client, hub, team)
    sha = art["sha256"]
    names = [
        sha.upper(), sha[:63], sha + "0", sha + ".mp3", "g" * 64, "0" * 64,  # well-formed but unknown
        "..", "%2e%2e", "..%2F..%2Fhub.db", "%2E%2E%2F%2E%2E%2Fhub.db", f"..%2F{sha[:2]}%2F{sha}",
        f"{sha[:2]}%2F{sha}", "%00", sha[:32] + "%00" + sha[32:63],
    ]
    for name in names:
        for headers in ({}, team.device):
            r = client.get(f"/media/{name}", headers=headers)
            assert r.status_code == 404, (name, r.status_code)
            assert "detail" in r.json()
    # The raw path, with no client-side normalisation of the dot segments.
    assert client.get("/media/../hub.db").status_code == 404


def test_non_web_media_needs_a_token(client, hub, team):
    _bid, art = approved_media(client, hub, team, channels=["speaker"])
    r = client.get(art["url"])
    assert r.status_code == 401
    assert "detail" in r.json()
    assert client.get(art["url"], headers={"Authorization": "Bearer hubd_not-a-token"}).status_code == 401
    assert client.get(art["url"], headers=team.device).status_code == 200
    assert client.get(art["url"], headers=team.author).status_code == 200
    # A board's kiosk page passes its token in the query string; a loudspeaker's agent sends the
    # header, and its token in the query (where logs and proxies keep it) is refused (issue 14).
    assert client.get(art["url"], params={"token": team.board_token}).status_code == 200
    r = client.get(art["url"], params={"token": team.device_token})
    assert r.status_code == 401 and "display board" in r.json()["detail"]
    # A token does not let a client skip the 304 or the Range handling either.
    r = client.get(art["url"], headers={**team.device, "Range": "bytes=0-3"})
    assert r.status_code == 206 and len(r.content) == 4


def test_media_stops_being_public_once_withdrawn_or_edited(client, hub, team):
    bid, art = approved_media(client, hub, team)
    assert client.get(art["url"]).status_code == 200
    r = client.post(f"/api/v1/bulletins/{bid}/withdraw", headers=team.approver)
    assert r.status_code == 200
    assert client.get(art["url"]).status_code == 401
    # Off the air for devices too (render before approval: only what is approved now is served to
    # a device); the department still hears it.
    assert client.get(art["url"], headers=team.device).status_code == 404
    assert client.get(art["url"], headers=team.approver).status_code == 200

    bid, art = approved_media(client, hub, team)
    assert client.get(art["url"]).status_code == 200
    r = client.patch(f"/api/v1/bulletins/{bid}", json={"body": "Nội dung đã sửa."}, headers=team.author)
    assert r.status_code == 200 and r.json()["status"] == "draft"
    # The approved revision is no longer current, so its media are not public any more.
    assert client.get(art["url"]).status_code == 401


def test_a_render_asked_for_before_it_exists_is_served_once_stored(client, hub, team):
    """The approver's page may ask for the audio while it is being rendered: the 404 of a file
    not yet stored is not remembered (storing it bumps no generation: no device must hear of it)."""
    created = client.post("/api/v1/bulletins", json=bulletin_payload(body="Nghe trước khi duyệt."),
                          headers=team.author).json()
    client.post(f"/api/v1/bulletins/{created['id']}/submit", headers=team.author)
    data = _render(SimpleNamespace(bulletin=SimpleNamespace(id=created["id"], revision=created["revision"])))[0].data
    # A worker stores the file, then records it: a request in between finds a file with no record.
    expected = hub.media.put(data)
    assert client.get(f"/media/{expected}", headers=team.approver).status_code == 404
    while hub.pipeline.run_one():
        pass
    [art] = client.get(f"/api/v1/bulletins/{created['id']}/artifacts", headers=team.approver).json()
    assert art["sha256"] == expected and art["published"] is False
    assert client.get(art["url"], headers=team.approver).status_code == 200
    assert client.get(art["url"], headers=team.device).status_code == 404


def test_a_device_download_is_answered_from_memory_and_still_checked(client, hub, team, monkeypatch):
    """The fleet's downloads right after an approval come from memory on the event loop; a
    withdrawal or a revoked token still stops them at once."""
    from hub.models import Device

    bid, art = approved_media(client, hub, team, channels=["speaker"])
    first = client.get(art["url"], headers=team.device)
    assert first.status_code == 200 and first.headers["cache-control"].startswith("private")
    calls = []
    checked = hub.services.media.check_readable
    monkeypatch.setattr(hub.services.media, "check_readable", lambda *a, **k: calls.append(a) or checked(*a, **k))
    again = client.get(art["url"], headers=team.device)
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert calls == [], "answered from what the process remembers"
    assert client.get(art["url"], headers={**team.device, "If-None-Match": first.headers["etag"]}).status_code == 304

    assert client.post(f"/api/v1/bulletins/{bid}/withdraw", headers=team.approver).status_code == 200
    assert client.get(art["url"], headers=team.device).status_code == 404

    bid, art = approved_media(client, hub, team, channels=["speaker"], body="Một bản tin khác cho loa.")
    assert client.get(art["url"], headers=team.device).status_code == 200
    people = People(hub)
    spare = people.device("loa-2", "C1")
    assert client.get(art["url"], headers=spare).status_code == 200
    with hub.store.session() as session:
        session.get(Device, people.ids["loa-2"]).active = False
    assert client.get(art["url"], headers=spare).status_code == 401
    assert client.get(art["url"], headers=team.device).status_code == 200
