"""The commune's devices page (/console/monitor/communes/{code}, issue 12 item 3): what each
loudspeaker is playing now (its last reported play, and "not known" said plainly), a board's
current slide as a thumbnail (the slide its kiosk page's heartbeat names), its plays today.
TestClient for each case; Chromium with a real kiosk page (/display) sending real heartbeats."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.auth import Principal
from hub.bulletins import Content
from hub.clock import utcnow
from hub.plugins import make_plugin_manager
from hub.services.devices import Play
from hub.testing import QuickMedia
from tests.plugins.console_client import PASSWORD, signed_in


def build(settings):
    local = settings.model_copy(update={"disabled_plugins": ["speech", "slides"]})
    pm = make_plugin_manager(local)
    pm.register(QuickMedia(), name="quick-media")
    return create_app(local, pm=pm)


def setup_world(hub):
    d = hub.services.directory
    d.add_commune(None, "A", "Xã Ái")
    d.add_user(None, "bientap", "editor", password=PASSWORD)
    d.add_user(None, "bientap2", "editor", password=PASSWORD)
    d.add_user(None, "vanhanh", "operator", "A", password=PASSWORD)
    editor = hub.services.sessions.sign_in("bientap", PASSWORD, ip=None, user_agent=None)[1]
    approver = hub.services.sessions.sign_in("bientap2", PASSWORD, ip=None, user_agent=None)[1]
    s = hub.services.bulletins
    view, _ = s.create(editor, Content(title="Lịch cắt điện thôn Một", body="Thứ Bảy cắt điện từ 7 giờ.",
                                       priority="normal", channels=["speaker", "display"], targets=["A"]))
    s.submit(editor, view["id"])
    bid = s.approve(approver, view["id"])["id"]
    while hub.pipeline.run_one():
        pass
    devices = {}
    for name, kind in (("Loa thôn Một", "speaker"), ("Loa thôn Hai", "speaker"), ("Loa thôn Ba", "speaker"),
                       ("Bảng tin chợ xã", "display")):
        record = d.register_device(None, name, "A", kind)
        devices[name] = {**record, "principal": Principal(record["id"], name, "device", "A", kind)}
    return bid, devices


@pytest.fixture
def app(settings):
    return build(settings)


def card(page: str, name: str) -> str:
    found = re.search(r'<li class="record" data-device="[^"]+" data-online="[a-z]+">\s*<h3>' + re.escape(name)
                      + r"</h3>.*?</li>", page, re.S)
    assert found, name
    return found.group(0)


def test_playing_now_is_the_last_reported_play_or_said_unknown(app, settings):
    with TestClient(app):
        hub = app.state.hub
        bid, devices = setup_world(hub)
        one, two, three = (devices[n]["principal"] for n in ("Loa thôn Một", "Loa thôn Hai", "Loa thôn Ba"))
        ended = utcnow() - timedelta(minutes=3)
        hub.services.devices.record_plays(one, [Play(str(uuid.uuid4()), None, bid, ended - timedelta(seconds=40),
                                                     ended, "played")])
        hub.services.devices.heartbeat(one, "playing", 80, {"agent": "grassroots-hub-agent/1"})
        hub.services.devices.heartbeat(two, "playing", 80, {})
        hub.services.devices.heartbeat(three, "idle", 80, {})
        page = signed_in(app, "vanhanh").get("/console/monitor/communes/A").text
    first = card(page, "Loa thôn Một")
    assert 'class="now-playing"' in first and "Lượt báo gần nhất: &#34;Lịch cắt điện thôn Một&#34;" in first
    assert "chưa rõ tin nào" in first and 'data-plays="1"' in first
    assert "Chưa rõ: loa đang phát nhưng chưa báo lượt phát nào hôm nay" in card(page, "Loa thôn Hai")
    assert re.search(r'class="now-playing">Không phát<', card(page, "Loa thôn Ba"))


def test_a_board_shows_its_current_slide_as_a_thumbnail(app, settings):
    with TestClient(app):
        hub = app.state.hub
        bid, devices = setup_world(hub)
        board = devices["Bảng tin chợ xã"]["principal"]
        [slide] = [a for a in hub.services.bulletins.artifacts(
            hub.services.sessions.sign_in("vanhanh", PASSWORD, ip=None, user_agent=None)[1], bid)
            if a["kind"] == "slide"]
        c = signed_in(app, "vanhanh")
        hub.services.devices.heartbeat(board, "idle", None, {"agent": "hub-display/1", "showing": None, "slide": None})
        assert "Không hiện tin nào" in card(c.get("/console/monitor/communes/A").text, "Bảng tin chợ xã")
        hub.services.devices.heartbeat(board, "playing", None, {"agent": "hub-display/1", "showing": bid,
                                                                "slide": "../../etc/passwd"})
        shown = card(c.get("/console/monitor/communes/A").text, "Bảng tin chợ xã")
        assert "<img" not in shown and "bảng chưa báo trang đang hiện" in shown
        hub.services.devices.heartbeat(board, "playing", None, {"agent": "hub-display/1", "showing": bid,
                                                                "slide": slide["sha256"]})
        shown = card(c.get("/console/monitor/communes/A/live").text, "Bảng tin chợ xã")
        assert f'<img src="/media/{slide["sha256"]}"' in shown and "Lịch cắt điện thôn Một" in shown
        image = c.get(f"/media/{slide['sha256']}")
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"


# --- in Chromium: a real kiosk page's heartbeat names its slide; the operator's page shows it ----------


@pytest.mark.slow
def test_board_slide_thumbnail_in_chromium(tmp_path, monkeypatch):
    from playwright import sync_api

    from hub.config import Settings
    from hub.store import migrate
    from hub.testing import LiveServer, wait_until
    from tests.plugins.console_browser import SIZES, launch, look, sign_in

    monkeypatch.setenv("HUB_TEST_SCREENSHOTS", "/tmp/shots/monitor")
    monkeypatch.setenv("HUB_DISPLAY_HEARTBEAT_S", "5")
    data = tmp_path / "var"
    data.mkdir()
    migrate(f"sqlite:///{data / 'hub.db'}")
    app = build(Settings(data_dir=data, workers=0, tts_engines=["espeak"]))
    with LiveServer(app) as server:
        hub = app.state.hub
        bid, devices = setup_world(hub)
        board = devices["Bảng tin chợ xã"]
        with sync_api.sync_playwright() as playwright:
            browser = launch(playwright)
            try:
                kiosk = browser.new_context(viewport=SIZES["desktop"]).new_page()
                kiosk.goto(f"{server.url}/display?token={board['token']}")

                operator = hub.services.sessions.sign_in("vanhanh", PASSWORD, ip=None, user_agent=None)[1]

                def named():
                    return [d for d in hub.services.history.commune_devices(operator, "A")
                            if d["id"] == board["id"]][0]["slide"]

                wait_until(named, timeout=30, what="the board's heartbeat names its slide")
                for size in ("phone", "desktop"):
                    page = browser.new_context(viewport=SIZES[size]).new_page()
                    sign_in(page, server.url, "vanhanh", PASSWORD)
                    page.goto(server.url + "/console/monitor/communes/A")
                    thumb = page.locator("li.record:has-text('Bảng tin chợ xã') figure.slide-thumb img")
                    thumb.wait_for(timeout=20_000)
                    assert thumb.evaluate("i => i.complete && i.naturalWidth") > 0
                    look(page, "monitor-commune-board")
                    page.close()
            finally:
                browser.close()
