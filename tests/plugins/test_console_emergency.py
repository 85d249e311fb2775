"""The console's emergency page ("Phát khẩn cấp"): TestClient per role, CSRF, bad input (422,
nothing created); then one Chromium test of the whole emergency path to a real agent's player."""

from __future__ import annotations


import pytest
from sqlalchemy import func, select

from hub.models import Bulletin
from tests.plugins.console_client import PASSWORD, csrf, signed_in


@pytest.fixture
def world(client, hub):
    d = hub.services.directory
    d.add_commune(None, "A", "Xã Ái")
    d.add_commune(None, "B", "Xã Bé")
    for name, role, commune in (("bientap", "editor", None), ("giamsat", "monitor", None),
                                ("vanhanh", "operator", "A")):
        d.add_user(None, name, role, commune, password=PASSWORD)


def bulletins(hub) -> int:
    with hub.store.reader() as session:
        return session.scalar(select(func.count()).select_from(Bulletin))


def form(token: str, **fields):
    data = {"csrf_token": token, "title": "Bão số 9", "body": "Mọi người vào nơi trú ẩn ngay.", "confirm": "yes",
            "targets": ["A"]}
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def test_editor_sends_an_emergency(app, hub, world):
    with signed_in(app, "bientap") as c:
        page = c.get("/console/emergency")
        assert page.status_code == 200 and "Phát khẩn cấp" in page.text
        assert 'value="*"' in page.text and "Cả tỉnh" in page.text and "Xã Ái" in page.text and "Xã Bé" in page.text
        assert "Tôi xác nhận đây là tin khẩn cấp" in page.text
        r = c.post("/console/emergency", data=form(csrf(page.text), targets=["A", "B"]), follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/bulletins/")
        assert r.headers["location"].endswith("?done=emergency")
        # The page it lands on says plainly that it is not on the air yet.
        assert "CHƯA phát" in c.get(r.headers["location"]).text
        bulletin_id = r.headers["location"].split("?")[0].rsplit("/", 1)[1]
    view = hub.services.bulletins.find(bulletin_id)
    assert view["status"] == "pending" and view["priority"] == "emergency"
    assert sorted(view["channels"]) == ["display", "speaker", "web"] and sorted(view["targets"]) == ["A", "B"]
    assert view["valid_from"] is not None and view["title"] == "Bão số 9"


def test_whole_province(app, hub, world):
    with signed_in(app, "bientap") as c:
        r = c.post("/console/emergency", data=form(csrf(c.get("/console/emergency").text), targets=["*", "A"]),
                   follow_redirects=False)
        assert r.status_code == 303
    assert hub.services.bulletins.find(r.headers["location"].split("?")[0].rsplit("/", 1)[1])["targets"] == ["*"]


@pytest.mark.parametrize("fields, message", [
    ({"confirm": None}, "Hãy đánh dấu ô xác nhận"),
    ({"title": "   "}, "Hãy nhập tiêu đề."),
    ({"body": ""}, "Hãy nhập nội dung."),
    ({"targets": None}, "Hãy chọn ít nhất một xã"),
    ({"targets": ["ZZ"]}, "Có xã được chọn không tồn tại."),
    ({"title": "x" * 301}, "Tiêu đề quá dài"),
])
def test_bad_input_is_422_and_creates_nothing(app, hub, world, fields, message):
    with signed_in(app, "bientap") as c:
        token = csrf(c.get("/console/emergency").text)
        r = c.post("/console/emergency", data=form(token, **fields))
        assert r.status_code == 422 and message in r.text and 'action="/console/emergency"' in r.text
        if fields.get("body") is None and "body" not in fields:
            assert "Mọi người vào nơi trú ẩn ngay." in r.text  # what was typed is kept
    assert bulletins(hub) == 0


def test_csrf_is_403_and_creates_nothing(app, hub, world):
    with signed_in(app, "bientap") as c:
        r = c.post("/console/emergency", data=form("sai"))
        assert r.status_code == 403
    assert bulletins(hub) == 0


def test_operator_only_its_commune(app, hub, world):
    with signed_in(app, "vanhanh") as c:
        page = c.get("/console/emergency").text
        assert "Xã Ái" in page and "Xã Bé" not in page and 'value="*"' not in page
        token = csrf(page)
        for targets in (["B"], ["*"], ["A", "B"]):
            r = c.post("/console/emergency", data=form(token, targets=targets))
            assert r.status_code == 422 and "chỉ được phát tới xã của mình" in r.text, targets
        assert bulletins(hub) == 0
        r = c.post("/console/emergency", data=form(token), follow_redirects=False)
        assert r.status_code == 303
    assert bulletins(hub) == 1


@pytest.mark.parametrize("name", ["giamsat"])
def test_not_for_monitors(app, hub, world, name):
    with signed_in(app, name) as c:
        assert c.get("/console/emergency").status_code == 404
        r = c.post("/console/emergency", data=form(csrf(c.get("/console").text)))
        assert r.status_code == 404
    assert bulletins(hub) == 0


# --- the emergency path in Chromium, to a real agent's player -------------------------------------------

AGENT_ENV = {
    "HUB_AGENT_POLL_S": "2", "HUB_AGENT_HEARTBEAT_S": "1", "HUB_AGENT_BACKOFF_S": "0.2",
    "HUB_AGENT_BACKOFF_MAX_S": "1", "HUB_AGENT_REQUEST_TIMEOUT_S": "5", "HUB_AGENT_KILL_GRACE_S": "2",
}
#: Bounds for the waits (not timing assertions: the measured times are printed).
SHOWN_S, PLAYED_S = 30, 90


@pytest.fixture(scope="module")
def path_world(tmp_path_factory):
    """A hub that speaks with the real offline voice (espeak-ng), one worker, on a real port, and
    one ``hub agent`` subprocess with the recording test player in commune LSN-CL."""
    import os
    import subprocess
    import sys

    from hub.app import create_app
    from hub.config import Settings
    from hub.plugins import make_plugin_manager
    from hub.store import migrate
    from hub.testing import LiveServer
    from tests.agent.conftest import PlayerLog, player_command

    work = tmp_path_factory.mktemp("emergency-path")
    data = work / "var"
    data.mkdir()
    migrate(f"sqlite:///{data / 'hub.db'}")
    settings = Settings(data_dir=data, tts_engines=["espeak"], workers=1, disabled_plugins=["slides"])
    app = create_app(settings, pm=make_plugin_manager(settings))
    with LiveServer(app) as server:
        d = app.state.hub.services.directory
        d.add_commune(None, "LSN-CL", "Xã Cao Lộc")
        d.add_commune(None, "LSN-LVT", "Phường Lương Văn Tri")
        d.add_user(None, "bientap", "editor", password=PASSWORD)
        d.add_user(None, "pheduyet", "editor", password=PASSWORD)
        device = d.register_device(None, "Cụm loa thôn Nà Cạn", "LSN-CL")
        log = PlayerLog(work / "player.jsonl")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(AGENT_ENV, HUB_AGENT_TOKEN=device["token"])
        with open(work / "agent.log", "ab") as out:
            agent = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "agent", "--server", server.url, "--cache", str(work / "cache"),
                 "--player", player_command(log)],
                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=work)
        try:
            yield server, log
        finally:
            agent.terminate()
            try:
                agent.wait(15)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait(10)
            stray_players(log)


def stray_players(log) -> None:
    """Players run in sessions of their own: end ours (by the pids the log wrote), if any is left."""
    import os
    import signal
    from pathlib import Path

    for pid in {e["pid"] for e in log.events("start")}:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"fake_player.py" in cmdline and str(log.path).encode() in cmdline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.slow
def test_emergency_path_in_chromium_to_the_loudspeaker(path_world):
    """The editor sends an emergency from the phone; the approver's home page, open on a desktop,
    shows it at the top without a reload; one click approves it; the agent's player plays it."""
    import time

    from playwright import sync_api

    from hub.testing import wait_until
    from tests.plugins.console_browser import SIZES, launch, look, sign_in

    server, log = path_world
    title = "Cảnh báo lũ quét tại thôn Nà Cạn"
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            approver = browser.new_context(viewport=SIZES["desktop"]).new_page()
            sign_in(approver, server.url, "pheduyet", PASSWORD)
            approver.goto(server.url + "/console")
            assert title not in approver.inner_text("main")

            editor = browser.new_context(viewport=SIZES["phone"]).new_page()
            sign_in(editor, server.url, "bientap", PASSWORD)
            t_open = time.time()
            editor.goto(server.url + "/console/emergency")
            editor.check("input[name=targets][value=LSN-CL]")
            editor.fill("#title", title)
            editor.fill("#body", "Nước sông dâng nhanh. Bà con thôn Nà Cạn di chuyển ngay lên chỗ cao, "
                                 "không qua suối, giữ liên lạc với trưởng thôn.")
            editor.check("input[name=confirm]")
            t_filled = time.time()
            editor.click("button.danger.big")
            editor.wait_for_url("**/console/bulletins/*")
            t_sent = time.time()
            assert "CHƯA phát" in editor.inner_text("main")
            bulletin_id = editor.url.split("?")[0].rsplit("/", 1)[1]

            # The approver's page, never reloaded: live.js brings the bulletin in, at the top.
            first = approver.locator("#h-pending + ul.tasks li.task").first
            first.filter(has_text=title).wait_for(timeout=SHOWN_S * 1000)
            t_shown = time.time()
            assert "KHẨN CẤP" in first.inner_text()
            look(approver, "home-approver-pending")
            t_click = time.time()
            first.locator("button[value=approve]").click()
            approver.wait_for_url("**/console?done=approved")
            assert "Đã phê duyệt tin." in approver.inner_text("main")

            wait_until(lambda: log.events("start"), timeout=PLAYED_S, what="the loudspeaker plays the emergency")
            t_played = log.events("start")[0]["t"]
            print(f"\nemergency path (bulletin {bulletin_id}): form opened to first play {t_played - t_open:.2f} s = "
                  f"filling the form {t_filled - t_open:.2f} s + sending {t_sent - t_filled:.2f} s + "
                  f"until the approver's page showed it {t_shown - t_sent:.2f} s + "
                  f"the approver finding the button {t_click - t_shown:.2f} s + the approve click to the "
                  f"player's start {t_played - t_click:.2f} s (the agent's clock and ours are the same machine's)")

            # Every page of this path at both sizes: the emergency form (empty and with its errors),
            # the home page with the emergency on air.
            for size in ("phone", "desktop"):
                for page in (editor, approver):
                    page.set_viewport_size(SIZES[size])
                editor.goto(server.url + "/console/emergency")
                look(editor, "emergency-form")
                editor.evaluate("document.querySelector('form.emergency').noValidate = true")
                editor.click("button.danger.big")
                assert "Hãy đánh dấu ô xác nhận" in editor.inner_text("main")
                look(editor, "emergency-errors")
                editor.check("input[name=targets][value=LSN-LVT]")
                editor.fill("#title", f"Cảnh báo sạt lở ({size})")
                editor.fill("#body", "Đường lên đèo có nguy cơ sạt lở. Không đi qua khi trời mưa.")
                editor.check("input[name=confirm]")
                editor.click("button.danger.big")
                editor.wait_for_url("**/console/bulletins/*")
                approver.goto(server.url + "/console")
                assert title in approver.inner_text("#h-on-air + ul.tasks")
                assert f"Cảnh báo sạt lở ({size})" in approver.inner_text("#h-pending + ul.tasks")
                look(approver, "home-approver")
                editor.goto(server.url + "/console")
                look(editor, "home-editor")
        finally:
            browser.close()


# --- "Thu âm thay vì gõ chữ": the emergency as a draft, to be recorded on its page ----------------------


def test_record_instead_creates_an_emergency_draft(app, hub, world):
    with signed_in(app, "bientap") as c:
        page = c.get("/console/emergency")
        assert 'name="action" value="record"' in page.text and "Thu âm thay vì gõ chữ" in page.text
        r = c.post("/console/emergency", data=form(csrf(page.text), body="", targets=["A", "B"], action="record"),
                   follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].endswith("?recording=1")
        bulletin_id = r.headers["location"].split("?")[0].rsplit("/", 1)[1]
        view = hub.services.bulletins.find(bulletin_id)
        assert view["status"] == "draft" and view["priority"] == "emergency"
        assert sorted(view["targets"]) == ["A", "B"] and sorted(view["channels"]) == ["display", "speaker", "web"]
        assert view["body"] == "Bão số 9"  # the title stands in for the body the officer did not type
        shown = c.get(r.headers["location"])
        assert shown.status_code == 200
        assert "Tin khẩn cấp này chưa được gửi" in shown.text and 'href="#h-recorder"' in shown.text
        assert "Thu âm giọng đọc" in shown.text and 'src="/console/static/recorder.js"' in shown.text
        assert 'name="action" value="submit"' in shown.text and "Gửi duyệt" in shown.text
    assert bulletins(hub) == 1


def test_record_instead_keeps_a_typed_body(app, hub, world):
    with signed_in(app, "vanhanh") as c:
        r = c.post("/console/emergency", data=form(csrf(c.get("/console/emergency").text), action="record"),
                   follow_redirects=False)
        assert r.status_code == 303
    view = hub.services.bulletins.find(r.headers["location"].split("?")[0].rsplit("/", 1)[1])
    assert view["status"] == "draft" and view["body"] == "Mọi người vào nơi trú ẩn ngay." and view["targets"] == ["A"]


@pytest.mark.parametrize("fields, message", [
    ({"confirm": None}, "Hãy đánh dấu ô xác nhận"),
    ({"title": "   "}, "Hãy nhập tiêu đề."),
    ({"targets": None}, "Hãy chọn ít nhất một xã"),
    ({"targets": ["ZZ"]}, "Có xã được chọn không tồn tại."),
    ({"targets": ["*", "A"], "confirm": None}, "Hãy đánh dấu ô xác nhận"),
])
def test_record_instead_bad_input_is_422_and_creates_nothing(app, hub, world, fields, message):
    with signed_in(app, "bientap") as c:
        token = csrf(c.get("/console/emergency").text)
        r = c.post("/console/emergency", data=form(token, body="", action="record", **fields))
        assert r.status_code == 422 and message in r.text and 'action="/console/emergency"' in r.text
    assert bulletins(hub) == 0


def test_record_instead_operator_only_its_commune(app, hub, world):
    with signed_in(app, "vanhanh") as c:
        r = c.post("/console/emergency", data=form(csrf(c.get("/console/emergency").text), targets=["B"],
                                                   action="record"))
        assert r.status_code == 422 and "chỉ được phát tới xã của mình" in r.text
    assert bulletins(hub) == 0


def test_record_instead_csrf_is_403_and_creates_nothing(app, hub, world):
    with signed_in(app, "bientap") as c:
        c.get("/console/emergency")
        r = c.post("/console/emergency", data=form("sai", action="record"))
        assert r.status_code == 403
    assert bulletins(hub) == 0


@pytest.fixture(scope="module")
def record_world(tmp_path_factory):
    """A hub on a real port (no workers: nothing needs rendering) and a WAV for the fake microphone."""
    import subprocess

    from hub.app import create_app
    from hub.config import Settings
    from hub.plugins import make_plugin_manager
    from hub.store import migrate
    from hub.testing import LiveServer

    work = tmp_path_factory.mktemp("emergency-record")
    data = work / "var"
    data.mkdir()
    migrate(f"sqlite:///{data / 'hub.db'}")
    voice = work / "mic.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=4", "-ac", "1",
                    "-ar", "48000", str(voice)], check=True)
    settings = Settings(data_dir=data, workers=0, tts_engines=["espeak"], disabled_plugins=["slides"])
    app = create_app(settings, pm=make_plugin_manager(settings))
    with LiveServer(app) as server:
        hub = app.state.hub
        hub.services.directory.add_commune(None, "LSN-CL", "Xã Cao Lộc")
        hub.services.directory.add_user(None, "vanhanh", "operator", "LSN-CL", password=PASSWORD)
        yield server, hub, voice


@pytest.mark.slow
def test_record_instead_in_chromium(record_world):
    """A commune officer on a phone: the emergency form, "Thu âm thay vì gõ chữ", record 1.5 s with
    the fake microphone, listen back, attach, "Gửi duyệt": the emergency is pending, with its recording."""
    from playwright import sync_api

    from tests.plugins.console_browser import SIZES, launch, look, sign_in

    server, hub, voice = record_world
    title = "Cảnh báo cháy rừng tại thôn Nà Cạn"
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright, fake_audio=voice)
        try:
            context = browser.new_context(viewport=SIZES["phone"])
            context.grant_permissions(["microphone"], origin=server.url)
            page = context.new_page()
            sign_in(page, server.url, "vanhanh", PASSWORD)
            page.goto(server.url + "/console/emergency")
            page.check("input[name=targets][value=LSN-CL]")
            page.fill("#title", title)
            page.check("input[name=confirm]")
            look(page, "emergency-record-form")
            page.click("button[name=action][value=record]")
            page.wait_for_url("**/console/bulletins/*?recording=1")
            bulletin_id = page.url.split("?")[0].rsplit("/", 1)[1]
            assert "Tin khẩn cấp này chưa được gửi" in page.inner_text("main")
            look(page, "emergency-record-draft")
            page.click("a[href='#h-recorder']")
            page.click("button.record-start")
            page.wait_for_selector("button.record-stop:not([disabled])")
            page.wait_for_timeout(1500)
            page.click("button.record-stop")
            page.wait_for_selector("audio.record-playback:not([hidden])")
            look(page, "emergency-record-recorded")
            page.click("button.record-send")
            page.wait_for_selector("text=Đã có bản thu âm.", timeout=30_000)
            look(page, "emergency-record-attached")
            page.click("button[name=action][value=submit]")
            page.wait_for_url("**/console/bulletins/*?done=submit")
            for size in ("phone", "desktop"):
                page.set_viewport_size(SIZES[size])
                look(page, "emergency-record-submitted")
            page.goto(server.url + "/console/emergency")
            look(page, "emergency-record-form")
        finally:
            browser.close()
    view = hub.services.bulletins.find(bulletin_id)
    assert view["status"] == "pending" and view["priority"] == "emergency" and view["targets"] == ["LSN-CL"]
    assert view["recording_sha256"] and view["body"] == title


@pytest.mark.slow
def test_attach_a_recording_file_in_chromium(record_world, tmp_path):
    """A recording made elsewhere (the phone's own recorder app): chosen as a file and attached."""
    import subprocess

    from playwright import sync_api

    from tests.plugins.console_browser import SIZES, launch, look, sign_in

    server, hub, _voice = record_world
    take = tmp_path / "ban-tin.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=330:duration=3", "-ac", "1",
                    "-c:a", "aac", str(take)], check=True)
    title = "Thông báo cắt điện thôn Bản Vền"
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_context(viewport=SIZES["phone"]).new_page()
            sign_in(page, server.url, "vanhanh", PASSWORD)
            page.goto(server.url + "/console/emergency")
            page.check("input[name=targets][value=LSN-CL]")
            page.fill("#title", title)
            page.check("input[name=confirm]")
            page.click("button[name=action][value=record]")
            page.wait_for_url("**/console/bulletins/*?recording=1")
            bulletin_id = page.url.split("?")[0].rsplit("/", 1)[1]
            page.set_input_files("#recording-file", str(take))
            look(page, "emergency-record-file-chosen")
            page.click("button.record-upload")
            page.wait_for_selector("text=Đã có bản thu âm.", timeout=30_000)
            look(page, "emergency-record-file-attached")
        finally:
            browser.close()
    view = hub.services.bulletins.find(bulletin_id)
    assert view["recording_sha256"] and view["status"] == "draft"
    # What is stored is the hub's own check of that take: about 3 s long.
    from hub.models import MediaObject

    with hub.store.reader() as session:
        record = session.get(MediaObject, view["recording_sha256"])
    assert record.meta["role"] == "recording" and 2.5 <= record.meta["duration_s"] <= 4.0
