"""A live broadcast end to end: Debian's Chromium speaks beeps into the console's "Phát trực tiếp"
page through its fake microphone → the ingest WebSocket → ffmpeg → a real Icecast → two real
``hub agent`` processes of the targeted commune play it (their players record it) and one of
another commune does not; stop → the agents go back to their programme; the archive is kept.
Then bad input at the ingest: garbage frames put nothing on air."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from hub.testing import wait_until
from tests.live.conftest import beep_onsets, beeps_wav, recordings
from tests.plugins.console_browser import DESKTOP, PHONE, launch, look, sign_in
from tests.plugins.console_client import PASSWORD


def utc(value: datetime) -> datetime:
    """The store gives naive UTC on SQLite."""
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def live_reports(station, device: str, broadcast_id: str):
    from hub.scheduler import live_play_ids

    ids = set(live_play_ids(broadcast_id))
    return [r for r in station.hub.reports(device) if r.item_id in ids]


def programme_now(hub, commune: str) -> str:
    """A programme of 24 five-second pieces that began at this local minute: one of them is always
    about to start, so the agents are busy with it within seconds."""
    now = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
    piece = hub.uploaded_audio(commune, 5)
    body = {"name": "Chương trình thử", "commune": commune, "items": [{"media": piece}] * 24,
            "schedule": {"times": [now.strftime("%H:%M")], "start_date": now.date().isoformat()}}
    response = hub.api("POST", "/api/v1/playlists", "author", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_speaking_live_from_the_console_reaches_the_commune_s_loudspeakers(station, tmp_path):
    from playwright import sync_api

    hub = station.hub
    hub.hub.services.directory.add_user(None, "vanhanh", "operator", "X1", password=PASSWORD)
    # A programme on air in X1 when the officer speaks: it must give way, then resume.
    programme = programme_now(hub, "X1")
    heard = {name: station.agent(name, commune) for name, commune in (("loa-1", "X1"), ("loa-2", "X1"),
                                                                      ("loa-3", "X2"))}
    wait_until(lambda: all(recordings(heard[n]) for n in ("loa-1", "loa-2")), timeout=20,
               what="the X1 agents playing their programme")
    wav = beeps_wav(tmp_path / "beeps.wav", count=10)
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright, fake_audio=wav)
        try:
            page = browser.new_page(viewport=PHONE)
            sign_in(page, hub.url, "vanhanh", PASSWORD)
            page.goto(hub.url + "/console/live")
            look(page, "live-ready")
            page.fill("#live-title", "Thông báo khẩn về mưa lũ")
            page.check("input[name=priority][value=emergency]")
            page.click("#live-start")
            page.wait_for_selector("#live-panel[data-state=on-air]", timeout=20_000)
            broadcast_id = page.get_attribute("#live-panel", "data-broadcast")
            wait_until(lambda: page.evaluate("document.getElementById('live-level').value") > 0.01, timeout=10,
                       what="the level meter moving")
            look(page, "live-on-air")
            time.sleep(5)
            page.click("#live-stop")
            page.wait_for_selector("#live-panel[data-state=ended]", timeout=10_000)
            page.reload()
            page.set_viewport_size(DESKTOP)
            entry = page.locator(f"[data-broadcast='{broadcast_id}']")
            assert "Đã kết thúc" in entry.inner_text() and "vanhanh" in entry.inner_text()
            look(page, "live-log")
        finally:
            browser.close()
    # Both X1 agents played the live stream and report it; X2's never did.
    for name in ("loa-1", "loa-2"):
        wait_until(lambda name=name: live_reports(station, name, broadcast_id), timeout=15,
                   what=f"{name}'s live play report")
        [report] = live_reports(station, name, broadcast_id)
        assert report.result == "played", (station.agent_log(name)[-3000:], station.icecast.error_log()[-3000:],
                                           (heard[name] / "player.log").read_text())
    assert not live_reports(station, "loa-3", broadcast_id)
    # What their players recorded holds the beeps, a second apart.
    for name in ("loa-1", "loa-2"):
        onsets = max((beep_onsets(p) for p in recordings(heard[name])), key=len)
        assert len(onsets) >= 4, (name, onsets, station.agent_log(name)[-2000:])
        gaps = [b - a for a, b in zip(onsets, onsets[1:])]
        assert all(0.8 < g < 1.2 or 1.8 < g < 2.2 for g in gaps), (name, gaps)
    assert not any(beep_onsets(p) for p in recordings(heard["loa-3"]))
    # The archive: kept as media, as long as the broadcast was on air.
    view = hub.api("GET", f"/api/v1/live/{broadcast_id}", "author").json()
    assert view["status"] == "ended" and view["end_reason"] == "stopped" and view["author"] == "vanhanh"
    started_at, ended_at = (datetime.fromisoformat(view[k]) for k in ("started_at", "ended_at"))
    on_air = (ended_at - started_at).total_seconds()
    assert view["archive"] is not None and abs(view["archive"]["duration_s"] - on_air) < 2.5, (view, on_air)
    audio = hub.api("GET", view["archive"]["url"], "author")
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/mpeg"
    # The piece of the programme on air when the officer began was cut; once stopped, the agents
    # are back on their programme.
    for name in ("loa-1", "loa-2"):
        live_ids = {r.item_id for r in live_reports(station, name, broadcast_id)}
        assert any(r.result == "interrupted" and utc(r.ended_at) <= started_at + timedelta(seconds=2)
                   for r in hub.reports(name)), [(r.item_id, r.result) for r in hub.reports(name)]
        wait_until(lambda name=name, live_ids=live_ids: [
            r for r in hub.reports(name) if r.item_id not in live_ids and r.result == "played"
            and utc(r.started_at) >= ended_at], timeout=25, what=f"{name} back on its programme after the broadcast")
    assert programme


def test_garbage_at_the_ingest_is_closed_and_nothing_goes_on_air(station):
    hub = station.hub
    body = hub.api("POST", "/api/v1/live", "author", json={"title": "Thử", "targets": ["X2"]}).json()
    with connect(body["ingest_url"], open_timeout=10) as ws:
        try:
            for _ in range(20):
                ws.send(b"this is not webm audio at all " * 100)
            ws.recv(timeout=10)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1003, closed
        else:
            raise AssertionError("the ingest kept a connection sending garbage")
    view = hub.api("GET", f"/api/v1/live/{body['id']}", "author").json()
    assert view["status"] == "ended" and view["end_reason"] == "no_audio" and view["started_at"] is None
    assert view["archive"] is None


def test_icecast_refuses_another_commune_s_device_and_lets_in_the_commune_s(station, tmp_path):
    import hashlib
    import subprocess

    import httpx

    from tests.live.conftest import webm_of

    hub = station.hub
    hub.people.device("loa-x1", "X1")
    hub.people.device("loa-x2", "X2")
    body = hub.api("POST", "/api/v1/live", "author", json={"title": "Thử", "targets": ["X1"]}).json()
    audio = webm_of(beeps_wav(tmp_path / "b.wav", count=6), tmp_path / "b.webm")
    pace = subprocess.Popen(["ffmpeg", "-v", "error", "-re", "-i", str(audio), "-c", "copy", "-f", "webm", "-"],
                            stdout=subprocess.PIPE)

    def listen(device: str | None) -> int:
        auth = None
        if device:
            token = hub.people.tokens[device]
            auth = ("device-" + hashlib.sha256(token.encode()).hexdigest()[:12], token)
        with httpx.stream("GET", body["stream_url"], auth=auth, timeout=10) as response:
            if response.status_code == 200:
                assert next(response.iter_bytes())  # audio flows
            return response.status_code

    import threading

    def feed(ws) -> None:
        while chunk := pace.stdout.read1(4096):
            try:
                ws.send(chunk)
            except ConnectionClosed:
                return

    try:
        with connect(body["ingest_url"]) as ws:
            threading.Thread(target=feed, args=(ws,), daemon=True).start()
            wait_until(lambda: hub.api("GET", f"/api/v1/live/{body['id']}", "author").json()["status"] == "on_air",
                       timeout=15, what="on air")
            assert listen("loa-x2") == 401  # another commune's device token: refused by the hub, at Icecast
            assert listen(None) == 401
            assert listen("loa-x1") == 200
    finally:
        pace.kill()
        pace.wait()
