"""HEAD answers wherever GET does: the same status and headers, and no body (RFC 9110 §9.3.2).

Podcast directories, feed validators and uptime monitors check enclosure URLs, feeds and /healthz
with HEAD. The test walks every GET route of the app, so a route added later is covered too. The
app is driven as ASGI directly: both Starlette's TestClient and uvicorn drop a HEAD's body
themselves, so only the messages the app sends show whether it sent one.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import anyio
import pytest
from fastapi.routing import iter_route_contexts

from tests.plugins.test_web_feeds import make_web, mp3, png  # noqa: F401  (fixtures)

# Values for the path parameters of the app's routes; an unknown name gets "nothing" (a 404 or
# 422, which HEAD must give just as GET does).
STATIC_NAMES = {"/console/static/{name}": "console.css", "/display/static/{name}": "display.css",
                "/console/static/fonts/{name}": "NotoSans-Regular.ttf"}
#: Headers whose value may change from one request to the next (both GETs are compared first).
ALWAYS_NEW = {"date", "x-server-time"}
#: Bodies that change with every request (the request counters), and so their length may too.
COUNTS_REQUESTS = {"/metrics"}


async def _call(app: Any, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """One request straight into the ASGI app; a stream is cut off after its first chunk."""
    target, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": target, "raw_path": target.encode(), "query_string": query.encode(),
             "root_path": "", "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80), "state": {}}
    sent: list[dict[str, Any]] = []
    asked = False
    streaming = anyio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await streaming.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and message.get("more_body"):
            streaming.set()

    with anyio.fail_after(20):
        await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    found: dict[str, str] = {}
    for key, value in start.get("headers", []):
        name = key.decode().lower()
        found[name] = f"{found[name]}, {value.decode()}" if name in found else value.decode()
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], found, body


@pytest.fixture
def site(make_web, mp3):  # noqa: F811
    web = make_web()
    bid = web.publish(title="Lịch tiêm chủng", body="Ngày 05/12 tiêm chủng tại trạm y tế.", targets=["*"])
    # An emergency, so that its CAP alert (/cap/{id}.xml) is there to be asked for.
    alert = web.publish(title="Lũ quét", body="Sơ tán ngay khỏi ven suối.", priority="emergency", targets=["*"])
    admin = web.people.user("quantri", "admin")
    speaker = web.people.device("loa-1", "X1")
    board = web.people.device("bang-1", "X1", kind="display")
    values = {"sha256": hashlib.sha256(mp3).hexdigest(), "bulletin_id": bid, "commune": "X1", "code": "X1",
              "user_id": web.people.ids["quantri"], "device_id": web.people.ids["loa-1"], "alert": alert}
    return web, values, {"admin": admin, "speaker": speaker, "board": board}


def get_routes(app: Any) -> list[str]:
    """The path of every GET route of the app, the included routers' ones too."""
    return [context.path for context in iter_route_contexts(app.routes) if "GET" in (context.methods or ())]


def _path(route: str, values: dict[str, str]) -> str:
    if route in STATIC_NAMES:
        return route.replace("{name}", STATIC_NAMES[route])
    if route.startswith("/cap/"):
        return route.replace("{bulletin_id}", values["alert"])
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), "nothing"), route)


def _headers_for(path: str, who: dict[str, dict[str, str]]) -> dict[str, str]:
    if path.startswith("/api/v1/device/"):
        return who["speaker"]
    if path.startswith("/display"):
        return who["board"]
    return who["admin"]


def test_every_get_route_answers_head_with_the_same_headers_and_no_body(site):
    web, values, who = site
    app = web.client.app
    routes = get_routes(app)
    assert len(routes) > 30
    statuses: dict[str, int] = {}
    for route in routes:
        path = _path(route, values)
        headers = _headers_for(path, who)
        first = web.client.portal.call(_call, app, "GET", path, headers)
        head = web.client.portal.call(_call, app, "HEAD", path, headers)
        second = web.client.portal.call(_call, app, "GET", path, headers)
        statuses[route] = head[0]
        assert head[0] == first[0] == second[0], (path, first[0], head[0])
        assert head[2] == b"", f"HEAD {path} sent a body of {len(head[2])} bytes"
        assert set(head[1]) == set(first[1]), (path, sorted(set(head[1]) ^ set(first[1])))
        for name, value in first[1].items():
            if name in ALWAYS_NEW or (name == "content-length" and route in COUNTS_REQUESTS):
                continue
            if second[1].get(name) == value:
                assert head[1][name] == value, (path, name, value, head[1][name])
    # The walk reached the real things, not only 404s.
    for path in ("/media/{sha256}", "/b/{bulletin_id}", "/feeds/{commune}.rss", "/feeds/{commune}.atom",
                 "/feeds/{commune}.json", "/healthz", "/metrics", "/display", "/display/manifest",
                 "/api/v1/device/manifest", "/api/v1/bulletins", "/console/static/{name}", "/feeds/cap.atom",
                 "/cap/{bulletin_id}.xml", "/feeds/artwork.png"):
        assert statuses.get(path) == 200, (path, statuses.get(path))


def test_head_of_media_has_length_type_etag_and_ranges(site, mp3):  # noqa: F811
    web, values, _who = site
    sha = values["sha256"]
    head = web.client.head(f"/media/{sha}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(mp3))
    assert head.headers["content-type"] == "audio/mpeg"
    assert head.headers["etag"] == f'"{sha}"' and head.headers["accept-ranges"] == "bytes"
    part = web.client.portal.call(_call, web.client.app, "HEAD", f"/media/{sha}", {"Range": "bytes=0-9"})
    assert part[0] == 206 and part[2] == b""
    assert part[1]["content-length"] == "10" and part[1]["content-range"] == f"bytes 0-9/{len(mp3)}"
    unchanged = web.client.head(f"/media/{sha}", headers={"If-None-Match": f'"{sha}"'})
    assert unchanged.status_code == 304


def test_head_of_healthz_and_metrics(site):
    web, _values, _who = site
    for path, kind in (("/healthz", "application/json"), ("/metrics", "text/plain")):
        status, headers, body = web.client.portal.call(_call, web.client.app, "HEAD", path, {})
        assert status == 200 and body == b"" and headers["content-type"].startswith(kind), path
        assert int(headers["content-length"]) > 0


def test_head_of_an_event_stream_ends(site):
    web, _values, who = site
    status, headers, body = web.client.portal.call(_call, web.client.app, "HEAD", "/api/v1/device/events",
                                                   who["speaker"])
    assert status == 200 and headers["content-type"].startswith("text/event-stream") and body == b""


def test_post_only_route_still_refuses_head(site):
    web, _values, who = site
    response = web.client.head("/api/v1/device/heartbeat", headers=who["speaker"])
    assert response.status_code == 405


def test_head_through_a_real_server_sends_headers_only(settings, mp3):  # noqa: F811
    """Over one kept-alive connection to uvicorn: a HEAD, then a GET that must parse cleanly after it."""
    import http.client

    from hub.app import create_app
    from hub.plugins import make_plugin_manager
    from hub.testing import LiveServer
    from tests.conftest import People, bulletin_payload
    from tests.plugins.test_web_feeds import MediaRenderer

    local = settings.model_copy(update={"disabled_plugins": ["speech", "slides"]})
    pm = make_plugin_manager(local)
    pm.register(MediaRenderer(mp3, b"\x89PNG"), name="test-media")
    app = create_app(local, pm=pm)
    with LiveServer(app) as server:
        hub = app.state.hub
        people = People(hub)
        people.commune("X1")
        author, approver = people.user("tacgia", "editor"), people.user("pheduyet", "editor")
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
        try:
            conn.request("POST", "/api/v1/bulletins", body=json.dumps(bulletin_payload(targets=["*"])),
                         headers={**author, "Content-Type": "application/json"})
            bid = json.loads(conn.getresponse().read())["id"]
            for action, who in (("submit", author), ("approve", approver)):
                conn.request("POST", f"/api/v1/bulletins/{bid}/{action}", headers=who)
                assert conn.getresponse().read()
            while hub.pipeline.run_one():
                pass
            sha = hashlib.sha256(mp3).hexdigest()
            for path in (f"/media/{sha}", "/feeds/all.rss", "/healthz", f"/b/{bid}"):
                conn.request("HEAD", path)
                head = conn.getresponse()
                assert head.status == 200 and head.read() == b"", path
                conn.request("GET", path)
                get = conn.getresponse()
                body = get.read()
                assert get.status == 200 and int(head.getheader("content-length")) == len(body), path
                assert head.getheader("content-type") == get.getheader("content-type"), path
            assert int(head.getheader("content-length")) > 0
        finally:
            conn.close()
