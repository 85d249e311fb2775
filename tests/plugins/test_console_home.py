"""The console's home page: each role's task lists, quick approval, withdrawing an emergency on air,
the auto-update fragment; CSRF and bad input change nothing."""

from __future__ import annotations


import pytest
from fastapi.testclient import TestClient

from hub.bulletins import Content
from tests.plugins.console_client import PASSWORD, csrf, signed_in


@pytest.fixture
def world(client, hub):
    d = hub.services.directory
    d.add_commune(None, "A", "Xã Ái")
    d.add_commune(None, "B", "Xã Bé")
    users = {}
    for name, role, commune in (("quantri", "admin", None), ("bientap", "editor", None),
                                ("bientap2", "editor", None), ("giamsat", "monitor", None),
                                ("vanhanh", "operator", "A")):
        d.add_user(None, name, role, commune, password=PASSWORD)
        users[name] = hub.services.sessions.sign_in(name, PASSWORD, ip=None, user_agent=None)[1]
    return users


def make(hub, who, title, *, priority="normal", targets=("A",), submit=True, approve_by=None, reject_by=None,
         reason=None):
    s = hub.services.bulletins
    view, _ = s.create(who, Content(title=title, body=f"Nội dung {title}.", priority=priority,
                                    channels=["speaker", "web"], targets=list(targets)))
    if submit:
        view = s.submit(who, view["id"])
    if approve_by:
        view = s.approve(approve_by, view["id"])
    if reject_by:
        view = s.reject(reject_by, view["id"], reason=reason)
    return view


def test_editor_sees_pending_emergencies_first_with_quick_approve(app, hub, world):
    normal = make(hub, world["vanhanh"], "Lịch tiêm chủng")
    urgent = make(hub, world["bientap2"], "Bão số 9 đổ bộ", priority="emergency", targets=["*"])
    own = make(hub, world["bientap"], "Tin của chính tôi")
    with signed_in(app, "bientap") as c:
        page = c.get("/console").text
        assert "Tin chờ phê duyệt (3)" in page
        assert page.index("Bão số 9") < page.index("Lịch tiêm chủng")
        assert f'href="/console/bulletins/{urgent["id"]}"' in page and "KHẨN CẤP" in page
        assert f'value="{urgent["content_hash"]}"' in page and f'value="{normal["content_hash"]}"' in page
        assert f'value="{own["content_hash"]}"' not in page  # four eyes: no button on one's own
        assert "cần người khác phê duyệt" in page
        assert "/docs" not in page  # the API docs are linked for admins


def test_quick_approve_and_its_errors(app, hub, world):
    b = make(hub, world["bientap2"], "Cắt điện")
    with signed_in(app, "bientap") as c:
        token = csrf(c.get("/console").text)
        r = c.post("/console/home/approve", data={"bulletin_id": b["id"], "expected_hash": b["content_hash"]})
        assert r.status_code == 403 and hub.services.bulletins.get(world["bientap"], b["id"])["status"] == "pending"
        r = c.post("/console/home/approve", data={"csrf_token": token, "bulletin_id": b["id"],
                                                  "expected_hash": "0" * 64, "action": "approve"})
        assert r.status_code == 409 and "Tin đã được sửa" in r.text
        assert hub.services.bulletins.get(world["bientap"], b["id"])["status"] == "pending"
        r = c.post("/console/home/approve", data={"csrf_token": token, "bulletin_id": b["id"],
                                                  "expected_hash": b["content_hash"], "action": "approve"},
                   follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console?done=approved"
        assert hub.services.bulletins.get(world["bientap"], b["id"])["status"] == "approved"
        assert "Đã phê duyệt tin." in c.get(r.headers["location"]).text
        r = c.post("/console/home/approve", data={"csrf_token": token, "bulletin_id": b["id"],
                                                  "expected_hash": b["content_hash"]})
        assert r.status_code == 409 and "không còn ở trạng thái" in r.text
        r = c.post("/console/home/approve", data={"csrf_token": token, "bulletin_id": "nope",
                                                  "expected_hash": b["content_hash"]})
        assert r.status_code == 404 and "Không tìm thấy" in r.text
    own = make(hub, world["bientap"], "Tin tự viết")
    with signed_in(app, "bientap") as c:
        r = c.post("/console/home/approve", data={"csrf_token": csrf(c.get("/console").text), "bulletin_id": own["id"],
                                                  "expected_hash": own["content_hash"]})
        assert r.status_code == 422 and "không thể tự phê duyệt" in r.text
        assert hub.services.bulletins.get(world["bientap"], own["id"])["status"] == "pending"


def test_operator_may_not_approve(app, hub, world):
    b = make(hub, world["bientap"], "Họp dân")
    with signed_in(app, "vanhanh") as c:
        page = c.get("/console").text
        assert "Tin chờ phê duyệt" not in page and 'action="/console/home/approve"' not in page
        r = c.post("/console/home/approve", data={"csrf_token": csrf(page), "bulletin_id": b["id"],
                                                  "expected_hash": b["content_hash"]})
        assert r.status_code == 422 and "không có quyền" in r.text
        assert hub.services.bulletins.get(world["bientap"], b["id"])["status"] == "pending"


def test_writers_see_their_drafts_and_rejections_with_reason(app, hub, world):
    make(hub, world["vanhanh"], "Bản nháp thôn A", submit=False)
    make(hub, world["vanhanh"], "Tin bị trả lại", reject_by=world["bientap"], reason="Sai ngày họp")
    make(hub, world["bientap"], "Nháp của biên tập", submit=False, targets=["B"])
    with signed_in(app, "vanhanh") as c:
        page = c.get("/console").text
        assert "Bản nháp của bạn" in page and "Bản nháp thôn A" in page
        assert "Tin của bạn bị từ chối" in page and "Tin bị trả lại" in page and "Sai ngày họp" in page
        assert "Nháp của biên tập" not in page
    with signed_in(app, "giamsat") as c:
        page = c.get("/console").text
        assert "Hiện không có việc gì cần làm." in page and "Bản nháp" not in page


def test_emergency_on_air_and_withdraw(app, hub, world):
    b = make(hub, world["bientap"], "Lũ quét", priority="emergency", targets=["A"], approve_by=world["bientap2"])
    make(hub, world["bientap"], "Tin thường đã duyệt", approve_by=world["bientap2"])
    with signed_in(app, "giamsat") as c:
        page = c.get("/console").text
        assert "Tin khẩn cấp đang phát" in page and "Lũ quét" in page and "Tin thường đã duyệt" not in page
        assert 'action="/console/home/withdraw"' not in page  # a monitor only sees it
    with signed_in(app, "bientap2") as c:
        page = c.get("/console").text
        token = csrf(page)
        assert 'action="/console/home/withdraw"' in page
        r = c.post("/console/home/withdraw", data={"bulletin_id": b["id"], "reason": "Hết nguy hiểm"})
        assert r.status_code == 403
        r = c.post("/console/home/withdraw", data={"csrf_token": token, "bulletin_id": b["id"], "reason": "  "})
        assert r.status_code == 422 and "Hãy ghi lý do" in r.text
        assert hub.services.bulletins.get(world["bientap"], b["id"])["status"] == "approved"
        r = c.post("/console/home/withdraw", data={"csrf_token": token, "bulletin_id": b["id"],
                                                   "reason": "Hết nguy hiểm", "action": "withdraw"},
                   follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console?done=withdrawn"
        assert hub.services.bulletins.get(world["bientap"], b["id"])["status"] == "withdrawn"
        assert "Lũ quét" not in c.get("/console").text


def test_tasks_fragment_for_the_page_script(app, hub, world):
    with signed_in(app, "bientap") as c:
        page = c.get("/console")
        assert 'src="/console/static/live.js"' in page.text and 'data-src="/console/home/tasks" data-every="3"' in page.text
        assert c.get("/console/static/live.js").status_code == 200
        before = c.get("/console/home/tasks")
        assert before.status_code == 200 and "<html" not in before.text and "Không có tin nào chờ" in before.text
        make(hub, world["bientap2"], "Tin mới đến")
        after = c.get("/console/home/tasks").text
        assert "Tin mới đến" in after and csrf(after) == csrf(page.text)
    assert TestClient(app).get("/console/home/tasks").status_code == 401


def test_admin_home_links_the_api_docs(app, world):
    with signed_in(app, "quantri") as c:
        page = c.get("/console").text
        assert 'href="/docs"' in page and "Tin chờ phê duyệt" in page


def test_rejection_reasons_service(hub, world):
    b = make(hub, world["vanhanh"], "Trả lại", reject_by=world["bientap"], reason="Thiếu địa điểm")
    other = make(hub, world["vanhanh"], "Đang chờ")
    reasons = hub.services.bulletins.rejection_reasons(world["vanhanh"], [b["id"], other["id"]])
    assert reasons == {b["id"]: "Thiếu địa điểm"}


def test_recorder_is_on_a_draft_bulletin_page(app, hub, world):
    draft = make(hub, world["bientap"], "Tin cần thu âm", submit=False)
    with signed_in(app, "bientap") as c:
        page = c.get(f"/console/bulletins/{draft['id']}")
        assert page.status_code == 200
        assert "Thu âm giọng đọc" in page.text and 'src="/console/static/recorder.js"' in page.text
        assert f'data-bulletin="{draft["id"]}"' in page.text and f'data-csrf="{csrf(page.text)}"' in page.text
        assert c.get("/console/static/recorder.js").status_code == 200


# --- the recorder in Chromium, with a fake microphone ------------------------------------------------


@pytest.fixture(scope="module")
def recorder_world(tmp_path_factory):
    import subprocess

    from hub.app import create_app
    from hub.config import Settings
    from hub.plugins import make_plugin_manager
    from hub.store import migrate
    from hub.testing import LiveServer

    work = tmp_path_factory.mktemp("recorder")
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
        hub.services.directory.add_user(None, "bientap", "editor", password=PASSWORD)
        hub.services.directory.add_user(None, "pheduyet", "editor", password=PASSWORD)
        author = hub.services.sessions.sign_in("bientap", PASSWORD, ip=None, user_agent=None)[1]
        yield server, hub, author, voice


@pytest.mark.slow
def test_recorder_in_chromium(recorder_world):
    import subprocess

    from playwright import sync_api

    from hub.models import MediaObject

    from tests.plugins.console_browser import SIZES, launch, look, sign_in

    server, hub, author, voice = recorder_world
    draft = make(hub, author, "Thông báo họp thôn", submit=False, targets=["LSN-CL"])
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright, fake_audio=voice)
        try:
            context = browser.new_context(viewport=SIZES["phone"])
            context.grant_permissions(["microphone"], origin=server.url)
            page = context.new_page()
            sign_in(page, server.url, "bientap", PASSWORD)
            page.goto(server.url + f"/console/bulletins/{draft['id']}")
            look(page, "recorder-ready")
            page.click("button.record-start")
            page.wait_for_selector("button.record-stop:not([disabled])")
            page.wait_for_timeout(1500)
            page.click("button.record-stop")
            page.wait_for_selector("audio.record-playback:not([hidden])")
            assert "nghe lại" in page.inner_text(".record-status")
            look(page, "recorder-recorded")
            page.click("button.record-send")
            page.wait_for_selector("text=Tin này đang dùng một bản thu âm.", timeout=30_000)
            recording = hub.services.bulletins.get(author, draft["id"])["recording_sha256"]
            assert recording
            for size in ("phone", "desktop"):
                page.set_viewport_size(SIZES[size])
                look(page, "recorder-attached")
        finally:
            browser.close()
    # Submitted, approved by a second editor, rendered: the aired MP3 is that recording, mastered.
    with hub.store.reader() as session:
        recorded_s = session.get(MediaObject, recording).meta["duration_s"]
    assert 1.0 <= recorded_s <= 4.5, f"the fake microphone's recording lasts {recorded_s} s"
    approver = hub.services.sessions.sign_in("pheduyet", PASSWORD, ip=None, user_agent=None)[1]
    hub.services.bulletins.submit(author, draft["id"])
    hub.services.bulletins.approve(approver, draft["id"])
    while hub.pipeline.run_one():
        pass
    audio = [a for a in hub.services.bulletins.artifacts(approver, draft["id"]) if a["kind"] == "audio"]
    assert len(audio) == 1 and audio[0]["published"] is True
    aired = hub.media.path(audio[0]["sha256"])
    probed = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                   str(aired)], capture_output=True, text=True, check=True).stdout)
    print(f"recorded {recorded_s:.2f} s in Chromium; the aired MP3 lasts {probed:.2f} s "
          f"(the recording's {audio[0]['source_duration_s']:.2f} s between the chimes)")
    # The aired MP3 is the intro chime, the whole recording, the outro chime.
    assert abs(audio[0]["source_duration_s"] - recorded_s) <= 0.15
    assert audio[0]["engine"] == "recording" and recorded_s < probed <= recorded_s + 8.0
