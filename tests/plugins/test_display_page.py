"""The display-board kiosk page (plugins/hub_display): access, and its behaviour in real Chromium
against a real uvicorn server, with slides rendered by the real slides plugin."""

from __future__ import annotations

import io
import json
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from PIL import Image, ImageChops, ImageStat

from hub.app import create_app
from hub.config import Settings
from hub.models import Device
from hub.plugins import list_plugins, make_plugin_manager
from hub.testing import LiveServer, free_port, wait_until
from tests.conftest import People

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
VIEWPORT = {"width": 960, "height": 540}  # 16:9, like the landscape slides, so nothing is letterboxed


# --- access (no browser) ---------------------------------------------------------------------------


@pytest.fixture
def team(people: People) -> SimpleNamespace:
    people.commune("C1", "Xã Tân Thành")
    return SimpleNamespace(
        people=people, editor=people.user("editor", "editor"),
        board=people.device("bang-1", "C1", "display"), speaker=people.device("loa-1", "C1", "speaker"))


def test_plugin_is_registered_through_its_entry_point(pm):
    assert any(p["name"] == "display" and "hub_register_routes" in p["hooks"] for p in list_plugins(pm))


@pytest.mark.parametrize("path", ["/display", "/display/manifest", "/display/events"])
def test_bad_tokens_are_refused(client, team, path):
    tokens = team.people.tokens
    for token, status in [(None, 401), ("hubd_nonsense", 401), ("garbage", 401),
                          (tokens["editor"], 403), (tokens["loa-1"], 403)]:
        r = client.get(path, params={"token": token} if token else None)
        assert r.status_code == status, (token, r.text)
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()["detail"]


def test_page_for_a_display_device(client, team, settings):
    token = team.people.tokens["bang-1"]
    r = client.get("/display", params={"token": token})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert '<html lang="vi">' in r.text
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    # Nothing from outside the hub: every src and href is a path on the hub itself.
    assert all(ref.startswith("/display/") for ref in re.findall(r'(?:src|href)="([^"]+)"', r.text))
    config = json.loads(re.search(r'<script id="display-config" type="application/json">(.*?)</script>',
                                  r.text, re.S).group(1))
    assert config["province"] == settings.province
    assert config["commune_name"] == "Xã Tân Thành"
    assert config["device"] == team.people.ids["bang-1"]
    # The header works too, for a kiosk that can set one.
    assert client.get("/display", headers=team.board).status_code == 200


def test_untrusted_names_cannot_break_out_of_the_page(client, people):
    people.commune("C9", "</script><script>alert(1)</script>")
    people.device("bang-9", "C9", "display")
    r = client.get("/display", params={"token": people.tokens["bang-9"]})
    assert r.status_code == 200
    assert "<script>alert(1)" not in r.text


def test_manifest_has_etag_and_304(client, team):
    token = team.people.tokens["bang-1"]
    first = client.get("/display/manifest", params={"token": token})
    assert first.status_code == 200
    assert first.json()["slides"] == []
    again = client.get("/display/manifest", params={"token": token}, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


def test_page_files(client):
    assert client.get("/display/static/display.js").headers["content-type"].startswith("text/javascript")
    css = client.get("/display/static/display.css")
    assert css.status_code == 200
    assert client.get("/display/static/display.css", headers={"If-None-Match": css.headers["etag"]}).status_code == 304
    assert client.get("/display/static/secrets.py").status_code == 404
    worker = client.get("/display/sw.js")
    assert worker.headers["service-worker-allowed"] == "/display"
    for name in ("display.js", "display.css"):
        text = client.get(f"/display/static/{name}").text
        assert "http://" not in text and "https://" not in text  # no CDN, no web fonts


# --- in a real browser against a real server --------------------------------------------------------


class LiveHub:
    """The hub's app under a real uvicorn server on 127.0.0.1, in a thread, stoppable and restartable."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: LiveServer | None = None

    def start(self) -> "LiveHub":
        app = create_app(self.settings, pm=make_plugin_manager(self.settings))
        self.server = LiveServer(app, port=self.port).start()
        self.hub = app.state.hub
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture
def live(tmp_path, monkeypatch):
    # One orientation and light compression: a board at 16:9 shows landscape slides only anyway.
    monkeypatch.setenv("HUB_SLIDES_ORIENTATIONS", "landscape")
    monkeypatch.setenv("HUB_SLIDES_PNG_COMPRESS_LEVEL", "1")
    # Slides that suggest 1-2 s each, so a rotation can be watched quickly.
    monkeypatch.setenv("HUB_SLIDES_MIN_DURATION_S", "1")
    monkeypatch.setenv("HUB_SLIDES_MAX_DURATION_S", "2")
    # The event stream re-checks the token at each keep-alive.
    monkeypatch.setenv("HUB_DISPLAY_KEEPALIVE_S", "1")
    # Speech is off (slow, and not what a board shows); the real slides plugin renders.
    settings = Settings(data_dir=tmp_path / "var", workers=1, tts_engines=["espeak"], disabled_plugins=["speech"],
                        job_poll_s=0.1, job_backoff_s=0.05, job_backoff_max_s=0.2)
    server = LiveHub(settings).start()
    people = People(server.hub)
    people.commune("C1", "Xã Tân Thành")
    server.people = people
    server.author = people.user("author", "editor")
    server.approver = people.user("approver", "editor")
    people.device("bang-1", "C1", "display")
    server.board_token = people.tokens["bang-1"]
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    try:
        yield context.new_page()
    finally:
        context.close()


def publish(live: LiveHub, title: str, body: str, priority: str = "normal", **fields) -> str:
    """Create, submit, approve and render a display bulletin for C1; its id."""
    with httpx.Client(base_url=live.url, timeout=30) as api:
        r = api.post("/api/v1/bulletins", headers=live.author, json={
            "title": title, "body": body, "priority": priority, "channels": ["display"], "targets": ["C1"],
            **fields})
        assert r.status_code == 201, r.text
        bid = r.json()["id"]
        assert api.post(f"/api/v1/bulletins/{bid}/submit", headers=live.author).status_code == 200
        assert api.post(f"/api/v1/bulletins/{bid}/approve", headers=live.approver).status_code == 200

        def settled() -> str | None:
            status = api.get(f"/api/v1/bulletins/{bid}", headers=live.author).json()["render_status"]
            return None if status in ("queued", "running", None) else status

        assert wait_until(settled, timeout=60, what=f"bulletin {bid} rendered") == "done"
    return bid


def withdraw(live: LiveHub, bid: str) -> None:
    r = httpx.post(f"{live.url}/api/v1/bulletins/{bid}/withdraw", headers=live.approver, timeout=30)
    assert r.status_code == 200, r.text


def board_slides(live: LiveHub, bid: str) -> list[dict]:
    r = httpx.get(f"{live.url}/display/manifest", params={"token": live.board_token}, timeout=30)
    slides = [s for s in r.json()["slides"] if s["bulletin_id"] == bid]
    assert slides, "the bulletin has no slides in the board's manifest"
    return slides


def open_board(live: LiveHub, page) -> None:
    page.goto(f"{live.url}/display?token={live.board_token}")


def wait_for(page, condition: str, timeout_s: float = 15) -> None:
    # A function, not an expression: the page's CSP forbids eval, which expressions would need.
    page.wait_for_function(f"() => ({condition})", timeout=timeout_s * 1000)


def difference(page, live: LiveHub, sha256: str) -> float:
    """Mean per-channel difference (0-255) between the screen and the slide, both shrunk alike."""
    size = (64, 36)
    shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB").resize(size, Image.BILINEAR)
    slide = Image.open(live.hub.media.path(sha256)).convert("RGB").resize(size, Image.BILINEAR)
    return sum(ImageStat.Stat(ImageChops.difference(shot, slide)).mean) / 3


def shows(page, live: LiveHub, sha256: str, timeout_s: float = 10) -> None:
    """Wait for the slide's cross-fade to settle on screen."""
    wait_for(page, f"document.body.dataset.slide === '{sha256}'", timeout_s)

    def settled() -> bool:
        diff = difference(page, live, sha256)
        assert diff < 8, f"the screen differs from the slide by {diff:.1f}"
        return True

    wait_until(settled, timeout=timeout_s, what=f"slide {sha256[:12]} on screen", interval=0.2)


@pytest.mark.slow
def test_idle_then_the_slide_then_emergency_and_back(live, page):
    open_board(live, page)
    wait_for(page, "document.body.dataset.state === 'idle'")
    idle = page.locator("#idle")
    assert idle.is_visible()
    assert live.hub.settings.province in idle.text_content()
    assert re.search(r"\d\d:\d\d", page.locator("#clock").inner_text())

    # The page picks up a new bulletin by itself.
    normal = publish(live, "Lịch tiêm chủng mở rộng", "Trạm y tế xã tiêm vắc-xin sởi cho trẻ em vào sáng thứ Bảy.")
    first = board_slides(live, normal)[0]
    shows(page, live, first["sha256"])
    assert page.evaluate("document.body.dataset.state") == "rotating"
    assert not page.locator("#banner").is_visible()

    urgent = publish(live, "Cảnh báo lũ quét", "Mực nước sông Kỳ Cùng lên nhanh. Người dân khẩn trương sơ tán.",
                     priority="emergency")
    urgent_shas = [s["sha256"] for s in board_slides(live, urgent)]
    # Rendering is the pipeline's business; from here the page has a few seconds to take the screen.
    wait_for(page, "document.body.dataset.state === 'emergency' && document.body.dataset.bulletin === "
                   f"'{urgent}' && document.querySelector('.slide.shown') !== null", timeout_s=5)
    assert page.locator("#banner").is_visible()
    assert "KHẨN CẤP" in page.locator("#banner").inner_text()
    assert page.evaluate("document.body.dataset.slide") in urgent_shas

    withdraw(live, urgent)
    wait_for(page, f"document.body.dataset.state === 'rotating' && document.body.dataset.bulletin === '{normal}'")
    assert not page.locator("#banner").is_visible()
    shows(page, live, first["sha256"])
    assert difference(page, live, urgent_shas[0]) > 30  # the measure tells the two apart


@pytest.mark.slow
def test_rotates_and_an_expired_emergency_gives_the_screen_back(live, page):
    first = publish(live, "Lịch cắt điện", "Thôn Bản Chắt tạm ngừng cấp điện từ 8 giờ đến 11 giờ.")
    began = time.monotonic()
    second = publish(live, "Họp dân thôn", "Mời bà con dự họp tại nhà văn hóa thôn lúc 19 giờ tối nay.")
    publish_s = time.monotonic() - began
    open_board(live, page)
    seen = set()

    def rotated() -> bool:
        seen.add(page.evaluate("() => document.body.dataset.bulletin"))
        seen.discard(None)
        assert seen == {first, second}, f"saw {seen}"
        return True

    wait_until(rotated, timeout=20, what="the page to rotate through both bulletins", interval=0.1)

    # The hub's cached manifest may still list an expired bulletin until something else changes,
    # so the page itself must drop it when its valid_until passes. Valid long enough to be seen on
    # screen even if publishing is as slow as it just was (a loaded machine), so the check always runs.
    valid_s = max(6.0, 3 * publish_s + 3)
    until = datetime.now(timezone.utc) + timedelta(seconds=valid_s)
    urgent = publish(live, "Cảnh báo giông lốc", "Đề nghị người dân không trú dưới gốc cây lớn.",
                     priority="emergency", valid_until=until.isoformat())
    assert datetime.now(timezone.utc) < until - timedelta(seconds=2), "publishing outlasted the emergency"
    wait_for(page, f"document.body.dataset.state === 'emergency' && document.body.dataset.bulletin === '{urgent}'")
    wait_for(page, "document.body.dataset.state === 'rotating'", timeout_s=valid_s + 15)
    assert page.evaluate("() => document.body.dataset.bulletin") in (first, second)
    assert not page.locator("#banner").is_visible()


@pytest.mark.slow
def test_keeps_showing_the_last_slide_when_the_hub_is_gone(live, page):
    bid = publish(live, "Thông báo thu gom rác", "Xe thu gom rác đi qua các thôn vào 17 giờ hằng ngày.")
    sha = board_slides(live, bid)[0]["sha256"]
    open_board(live, page)
    shows(page, live, sha)
    assert not page.locator("#status").is_visible()
    # The page has stored itself for a reboot during an outage (service worker and caches).
    stored = """async () => {
        await navigator.serviceWorker.ready;
        const pageCache = await caches.open('hub-display-page-v1');
        const media = await caches.open('hub-display-media-v1');
        return !!(await pageCache.match(location.href)) && (await media.keys()).length > 0;
    }"""
    wait_until(lambda: page.evaluate(stored), timeout=20, what="the page to store itself", interval=0.2)

    live.stop()
    wait_for(page, "document.body.dataset.online === 'false'")
    status = page.locator("#status")
    assert status.is_visible()
    assert "Mất kết nối" in status.inner_text()
    assert page.evaluate("document.body.dataset.slide") == sha
    assert difference(page, live, sha) < 12  # the slide, with the small notice in a corner

    # A reboot while the hub is down: the page, the manifest and the slide come from the board's caches.
    page.reload()
    wait_for(page, f"document.body.dataset.slide === '{sha}' && document.body.dataset.online === 'false'")
    assert page.locator("#status").is_visible()

    # The hub comes back on the same address: the notice goes away by itself.
    live.start()
    wait_for(page, "document.body.dataset.online === 'true'", timeout_s=30)
    assert not page.locator("#status").is_visible()
    assert page.evaluate("document.body.dataset.slide") == sha


@pytest.mark.slow
def test_a_deactivated_board_stops_showing_bulletins(live, page):
    bid = publish(live, "Thông báo tuyển quân", "Thanh niên trong độ tuổi đến đăng ký tại ban chỉ huy quân sự xã.")
    open_board(live, page)
    wait_for(page, f"document.body.dataset.bulletin === '{bid}'")
    with live.hub.store.session() as session:
        session.get(Device, live.people.ids["bang-1"]).active = False
    wait_for(page, "document.body.dataset.state === 'idle'")
    assert "chưa được cấp quyền" in page.locator("#idle-note").inner_text()
    assert page.evaluate("() => Object.keys(localStorage).length") == 0
