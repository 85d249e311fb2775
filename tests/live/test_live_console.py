"""The console's live page when the browser's connection drops (issue 15), and the broadcast log's
archive player. Debian's Chromium speaks beeps into /console/live through a small TCP relay of the
test's between it and the hub: cutting the relay's connections drops the ingest WebSocket the way a
phone's network does. A short drop: the page connects again by itself and the hub keeps the
broadcast on air on the same encoder (the same ffmpeg, the same Icecast mount: a loudspeaker's
connection to it stays open and goes on getting audio). A drop longer than
HUB_LIVE_IDLE_S (3 s here): the broadcast ends (``browser_gone``) and its archive is kept, which
an operator of the commune plays on the console and one of another commune cannot fetch."""

from __future__ import annotations

import socket
import threading
import time

from hub.testing import wait_until
from tests.live.conftest import beep_onsets, beeps_wav
from tests.plugins.console_browser import DESKTOP, PHONE, launch, look, sign_in
from tests.plugins.console_client import PASSWORD


class Listener:
    """A loudspeaker's connection to the broadcast's Icecast mount (its device token as the
    password): how many bytes came, and whether the connection ended."""

    def __init__(self, url: str, token: str) -> None:
        import hashlib

        self.url, self.auth = url, ("device-" + hashlib.sha256(token.encode()).hexdigest()[:12], token)
        self.received, self.closed, self.stop = 0, False, False
        threading.Thread(target=self._listen, daemon=True).start()

    def _listen(self) -> None:
        import httpx

        try:
            with httpx.stream("GET", self.url, auth=self.auth, timeout=30) as response:
                for chunk in response.iter_bytes():
                    self.received += len(chunk)
                    if self.stop:
                        return
        except httpx.HTTPError:
            pass
        self.closed = True


class Relay:
    """TCP from a loopback port of its own to the hub's; ``cut()`` closes every connection it
    carries, ``refuse`` makes it close new ones at once (the browser cannot reach the hub)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.refuse = False
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.refuse:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        with self.lock:
            carried, self.open = self.open, set()
        for s in carried:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.server.close()
        self.cut()


def speak(page, url: str, title: str) -> str:
    """The operator "vanhanh" signs in at ``url`` and starts a broadcast; its id once on air."""
    sign_in(page, url, "vanhanh", PASSWORD)
    page.goto(url + "/console/live")
    page.fill("#live-title", title)
    page.click("#live-start")
    page.wait_for_selector("#live-panel[data-state=on-air]", timeout=20_000)
    return page.get_attribute("#live-panel", "data-broadcast")


def test_a_short_drop_reconnects_on_air_a_long_one_ends_and_the_archive_plays(station, tmp_path):
    from playwright import sync_api

    hub = station.hub
    directory = hub.hub.services.directory
    directory.add_user(None, "vanhanh", "operator", "X1", password=PASSWORD)
    hub.people.user("op-x2", "operator", "X2")
    hub.people.device("loa-1", "X1")
    relay = Relay(int(hub.url.rsplit(":", 1)[1]))
    wav = beeps_wav(tmp_path / "beeps.wav", count=30)
    runs = hub.hub.services.live._runs
    try:
        with sync_api.sync_playwright() as playwright:
            browser = launch(playwright, fake_audio=wav)
            try:
                page = browser.new_page(viewport=PHONE)
                broadcast_id = speak(page, relay.url, "Thông báo lịch tiêm chủng")
                run = runs[broadcast_id]
                encoder_pid = run.encoder.proc.pid
                stream_url = hub.api("GET", f"/api/v1/live/{broadcast_id}", "author").json()["stream_url"]
                loudspeaker = Listener(stream_url, hub.people.tokens["loa-1"])
                time.sleep(2)  # a few beeps before the drop
                assert loudspeaker.received and not loudspeaker.closed

                # A short drop: back by itself within 5 s, still on air, on the same encoder.
                relay.cut()
                page.wait_for_selector("#live-panel[data-reconnects='1'][data-state=on-air]", timeout=5_000)
                wait_until(lambda: run.connected, timeout=5, what="the hub seeing the page back")
                view = hub.api("GET", f"/api/v1/live/{broadcast_id}", "author").json()
                assert view["status"] == "on_air" and view["end_reason"] is None, view
                assert run.encoder is not None and run.encoder.proc.pid == encoder_pid and len(run.recordings) == 1
                heard = loudspeaker.received
                time.sleep(2)  # and a few after it
                # The loudspeaker stayed on the mount through the drop and hears the rest.
                assert loudspeaker.received > heard and not loudspeaker.closed
                loudspeaker.stop = True

                # A long one: the page says it is reconnecting; the hub ends the broadcast after 3 s.
                relay.refuse = True
                relay.cut()
                page.wait_for_selector("#live-panel[data-state=reconnecting]", timeout=5_000)
                assert page.inner_text("#live-status") == "Mất kết nối, đang nối lại…"
                look(page, "live-reconnecting")
                wait_until(lambda: hub.api("GET", f"/api/v1/live/{broadcast_id}", "author").json()["status"] == "ended",
                           timeout=10, what="the broadcast ended for the browser gone")
                relay.refuse = False
                page.wait_for_selector("#live-panel[data-state=error]", timeout=10_000)
                view = hub.api("GET", f"/api/v1/live/{broadcast_id}", "author").json()
                assert view["end_reason"] == "browser_gone", view
                wait_until(lambda: hub.api("GET", f"/api/v1/live/{broadcast_id}", "author").json()["archive"],
                           timeout=20, what="the archive")

                # The log: the commune's operator plays the archive on the console.
                for size in (PHONE, DESKTOP):
                    page.set_viewport_size(size)
                    page.goto(relay.url + "/console/live")
                    entry = page.locator(f"[data-broadcast='{broadcast_id}']")
                    assert "vanhanh" in entry.inner_text()
                    player = entry.locator("audio")
                    player.evaluate("a => a.load()")
                    wait_until(lambda: player.evaluate("a => a.duration") > 1, timeout=10,
                               what="the archive loaded in the player")
                    look(page, "live-archive")
                assert hub.people.tokens["loa-1"] not in page.content()
            finally:
                browser.close()
    finally:
        relay.close()
    archive = hub.api("GET", f"/api/v1/live/{broadcast_id}", "author").json()["archive"]
    kept = hub.api("GET", archive["url"], "op-x1")
    assert kept.status_code == 200
    # Nothing was lost in the short drop (the page sent what it recorded meanwhile): the beeps in
    # the archive are a second apart throughout, and there are those of both connections.
    (tmp_path / "archive.mp3").write_bytes(kept.content)
    # A beep cut by the recording's start (its onset in the first 0.1 s) is not a whole one.
    onsets = [t for t in beep_onsets(tmp_path / "archive.mp3") if t > 0.1]
    gaps = [b - a for a, b in zip(onsets, onsets[1:])]
    assert len(onsets) >= 4 and all(0.8 < g < 1.2 for g in gaps), (onsets, archive)
    assert hub.api("GET", archive["url"], "op-x2").status_code == 404  # another commune's operator
    assert hub.api("GET", archive["url"], "loa-1").status_code == 404  # a device, even the commune's


def test_a_reloaded_page_takes_its_broadcast_back_and_another_device_can_take_it_over(station, tmp_path):
    """The officer reloads the page while on air: the page takes the same broadcast back by itself
    (a new ingest key, a new recorder) before the grace runs out; nothing ends. Then the officer
    signs in on another device: that page takes it over and the first one says so."""
    from playwright import sync_api

    hub = station.hub
    hub.hub.settings.live_idle_s = 8.0  # a reload on a busy test machine fits in it
    hub.hub.services.directory.add_user(None, "vanhanh", "operator", "X1", password=PASSWORD)
    hub.people.device("loa-1", "X1")
    wav = beeps_wav(tmp_path / "beeps.wav", count=60)
    runs = hub.hub.services.live._runs
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright, fake_audio=wav)
        try:
            page = browser.new_page(viewport=PHONE)
            broadcast_id = speak(page, hub.url, "Thông báo họp thôn")
            time.sleep(2)

            page.reload()
            page.wait_for_selector("#live-panel[data-state=on-air]", timeout=15_000)
            assert page.get_attribute("#live-panel", "data-broadcast") == broadcast_id
            assert page.is_visible("#live-stop") and not page.is_visible("#live-start")
            assert "vẫn đang diễn ra" in page.inner_text("#live-going")
            look(page, "live-resumed")
            view = hub.api("GET", f"/api/v1/live/{broadcast_id}", "author").json()
            assert (view["status"], view["end_reason"]) == ("on_air", None), view
            run = runs[broadcast_id]
            wait_until(lambda: len(run.recordings) == 2, timeout=5, what="the new recorder's part")
            # A loudspeaker on the mount after the reload hears it.
            loudspeaker = Listener(view["stream_url"], hub.people.tokens["loa-1"])
            wait_until(lambda: loudspeaker.received > 4000, timeout=10, what="audio on the mount after the reload")
            loudspeaker.stop = True
            time.sleep(1)

            # The same officer on another device (its own sign-in): it takes the broadcast over.
            other = browser.new_page(viewport=DESKTOP)
            sign_in(other, hub.url, "vanhanh", PASSWORD)
            other.goto(hub.url + "/console/live")
            other.wait_for_selector("#live-panel[data-state=on-air]", timeout=15_000)
            page.wait_for_selector("#live-panel[data-state=ended]", timeout=10_000)
            assert page.inner_text("#live-status") == "Buổi phát đã được tiếp tục ở trang khác."
            assert hub.api("GET", f"/api/v1/live/{broadcast_id}", "author").json()["status"] == "on_air"
            time.sleep(1.5)
            other.click("#live-stop")
            other.wait_for_selector("#live-panel[data-state=ended]", timeout=10_000)
        finally:
            browser.close()
    done = wait_until(lambda: (v := hub.api("GET", f"/api/v1/live/{broadcast_id}", "author").json())["archive"] and v,
                      timeout=30, what="the archive")
    assert done["end_reason"] == "stopped", done
    # The archive joins the three pages' parts: beeps from before the reload, after it, and from
    # the other device.
    kept = hub.api("GET", done["archive"]["url"], "op-x1")
    (tmp_path / "archive.mp3").write_bytes(kept.content)
    onsets = beep_onsets(tmp_path / "archive.mp3")
    assert len(onsets) >= 7, (onsets, done["archive"])
