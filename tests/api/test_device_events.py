"""Server-sent events tell a device at once that its manifest changed, over a real server."""

from __future__ import annotations

import json
import queue
import threading

import httpx

from hub.app import create_app
from hub.plugins import make_plugin_manager
from hub.testing import LiveServer, QuickMedia, wait_until
from tests.conftest import People, bulletin_payload


def _listen(url: str, headers: dict, out: queue.Queue, stop: threading.Event) -> None:
    try:
        _read_events(url, headers, out, stop)
    except httpx.HTTPError:
        pass  # the server went away at the end of the test


def _read_events(url: str, headers: dict, out: queue.Queue, stop: threading.Event) -> None:
    with httpx.Client(timeout=httpx.Timeout(30, read=30)) as http:
        with http.stream("GET", f"{url}/api/v1/device/events", headers=headers) as response:
            out.put(("status", response.status_code, response.headers.get("content-type")))
            event = None
            for line in response.iter_lines():
                if stop.is_set():
                    return
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event == "manifest":
                    data = json.loads(line.split(":", 1)[1])
                    out.put(("manifest", data["etag"], data.get("manifest")))


def test_events_announce_an_emergency_for_this_device_only(settings):
    local = settings.model_copy(update={"disabled_plugins": ["speech", "slides"], "workers": 1,
                                        "job_poll_s": 0.05})
    pm = make_plugin_manager(local)
    pm.register(QuickMedia(seconds=1.0), name="quick-media")
    app = create_app(local, pm=pm)
    with LiveServer(app) as server:
        people = People(app.state.hub)
        people.commune("A")
        people.commune("B")
        author, approver = people.user("a", "editor"), people.user("b", "editor")
        speaker_a, speaker_b = people.device("loa-a", "A"), people.device("loa-b", "B")
        events_a, events_b = queue.Queue(), queue.Queue()
        stop = threading.Event()
        for headers, out in ((speaker_a, events_a), (speaker_b, events_b)):
            threading.Thread(target=_listen, args=(server.url, headers, out, stop), daemon=True).start()
        assert events_a.get(timeout=10)[1:] == (200, "text/event-stream; charset=utf-8")
        assert events_b.get(timeout=10)[0] == "status"
        first_a = events_a.get(timeout=10)[1]
        first_b = events_b.get(timeout=10)[1]

        with httpx.Client(base_url=server.url, timeout=10) as http:
            bid = http.post("/api/v1/bulletins", json=bulletin_payload(targets=["A"], priority="emergency"),
                            headers=author).json()["id"]
            http.post(f"/api/v1/bulletins/{bid}/submit", headers=author)
            assert http.post(f"/api/v1/bulletins/{bid}/approve", headers=approver).status_code == 200
            # The event arrives once the audio is rendered and the manifest holds the emergency.
            while True:
                kind, etag, pushed = events_a.get(timeout=15)
                if kind == "manifest" and etag != first_a:
                    break
            # Audio and slides are two jobs, so a second event may follow the first: once both are
            # done, the newest event must come to match what a fetch returns.
            wait_until(lambda: http.get(f"/api/v1/bulletins/{bid}", headers=author).json()["render_status"] == "done",
                       timeout=15, what="both render jobs done")
            r = http.get("/api/v1/device/manifest", headers=speaker_a)

            def caught_up() -> bool:
                nonlocal etag, pushed
                while not events_a.empty():
                    _, etag, pushed = events_a.get_nowait()
                return etag == r.headers["etag"]

            wait_until(caught_up, timeout=10, what=f"an event with the fetched etag {r.headers['etag']}")
            assert any(i["bulletin_id"] == bid for i in r.json()["items"])
            # The event carried the same manifest, so a device need not fetch it.
            assert pushed["items"] == r.json()["items"] and pushed["device"] == people.ids["loa-a"]
            r = http.get("/api/v1/device/manifest", headers=speaker_b)
            assert r.headers["etag"] == first_b
        # B heard of nothing new.
        while not events_b.empty():
            kind, etag, _ = events_b.get_nowait()
            assert etag == first_b
        stop.set()
