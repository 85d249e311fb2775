"""The console's bulletin pages: the list, the bulletin and its approval, the form.

TestClient for behaviour (filters, who sees what, each workflow button, CSRF, four eyes, bad forms);
one Chromium module at the end: write, submit, hear, approve, withdraw, at both sizes.
"""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hub.app import create_app
from hub.bulletins import CAP_CATEGORIES as SERVICE_CATEGORIES
from hub.models import AuditEvent, Bulletin, Revision
from hub.plugins import make_plugin_manager
from hub_console.bulletins import CAP_CATEGORIES
from tests.plugins.console_client import PASSWORD, csrf, signed_in


@pytest.fixture
def world(client, hub):
    d = hub.services.directory
    d.add_commune(None, "A", "Xã Ái")
    d.add_commune(None, "B", "Xã Bé")
    for name, role, commune in (("tacgia", "editor", None), ("duyet", "editor", None), ("giamsat", "monitor", None),
                                ("vanhanh", "operator", "A"), ("vanhanh-b", "operator", "B")):
        d.add_user(None, name, role, commune, password=PASSWORD)
    return hub


@pytest.fixture
def author(app, world):
    with signed_in(app, "tacgia") as c:
        yield c


@pytest.fixture
def approver(app, world):
    with signed_in(app, "duyet") as c:
        yield c


def form_data(token: str, **overrides) -> dict:
    data = {"csrf_token": token, "title": "Lịch tiêm chủng", "body": "Tiêm tại trạm y tế xã lúc 8 giờ.",
            "priority": "normal", "channels": ["speaker", "web"], "targets": ["A"], "action": "save"}
    data.update(overrides)
    return data


def write(client: TestClient, **overrides) -> str:
    page = client.get("/console/bulletins/new")
    assert page.status_code == 200
    r = client.post("/console/bulletins/new", data=form_data(csrf(page.text), **overrides), follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.headers["location"].split("/")[-1].split("?")[0]


def act(client: TestClient, bid: str, action: str, **extra):
    page = client.get(f"/console/bulletins/{bid}")
    data = {"csrf_token": csrf(page.text), "action": action}
    found = re.search(r'name="expected_hash" value="([^"]+)"', page.text)
    if found:
        data["expected_hash"] = found.group(1)
    data.update(extra)
    return client.post(f"/console/bulletins/{bid}", data=data, follow_redirects=False)


def status_of(hub, bid: str) -> str:
    with hub.store.reader() as session:
        return session.get(Bulletin, bid).status


def count(hub, model) -> int:
    with hub.store.reader() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_write_a_draft_and_see_it(author, world):
    bid = write(author, valid_from="2026-12-03T07:30", valid_until="2026-12-04T18:00")
    page = author.get(f"/console/bulletins/{bid}?done=saved")
    assert page.status_code == 200
    text = page.text
    assert "Lịch tiêm chủng" in text and "Bản nháp" in text and "Đã lưu bản nháp." in text
    assert "03/12/2026 07:30" in text and "04/12/2026 18:00" in text
    assert 'value="submit"' in text and 'value="approve"' not in text
    assert f'/console/bulletins/{bid}/edit' in text
    bulletin = world.services.bulletins.find(bid)
    from datetime import datetime, timezone
    assert bulletin["valid_from"].replace(tzinfo=bulletin["valid_from"].tzinfo or timezone.utc) \
        == datetime(2026, 12, 3, 0, 30, tzinfo=timezone.utc), "07:30 in Hà Nội time is 00:30 UTC"
    assert bulletin["channels"] == ["speaker", "web"] and bulletin["targets"] == ["A"]


def test_the_list_filters_and_pages(author, world):
    a = write(author, title="Tiêm phòng dại", targets=["A"])
    b = write(author, title="Bão số 9", body="Gió giật cấp 10.", priority="emergency", targets=["*"])
    write(author, title="Thu thuế", body="Nộp trước ngày 15.", targets=["B"])
    page = author.get("/console/bulletins")
    assert page.status_code == 200 and "3 bản tin" in page.text
    assert page.text.index("Thu thuế") < page.text.index("Tiêm phòng dại"), "newest first"
    assert "Khẩn cấp" in page.text and "Cả tỉnh" in page.text and "Bản nháp" in page.text
    r = author.get("/console/bulletins", params={"q": "tiêm"})
    assert f"/console/bulletins/{a}" in r.text and "Thu thuế" not in r.text
    r = author.get("/console/bulletins", params={"priority": "emergency"})
    assert f"/console/bulletins/{b}" in r.text and "Tiêm phòng dại" not in r.text
    r = author.get("/console/bulletins", params={"commune": "B"})
    assert "Thu thuế" in r.text and "Bão số 9" in r.text and "Tiêm phòng dại" not in r.text
    r = author.get("/console/bulletins", params={"status": "pending"})
    assert "0 bản tin" in r.text
    for i in range(20):
        world.services.bulletins.create(_principal(world, "tacgia"),
                                        world.services.bulletins.Content(title=f"Tin {i}", body="x", priority="normal",
                                                                        channels=["web"], targets=["A"]))
    r = author.get("/console/bulletins")
    assert "Trang sau" in r.text and "Trang trước" not in r.text
    r = author.get("/console/bulletins", params={"offset": 20})
    assert "Trang trước" in r.text and "Tiêm phòng dại" in r.text


def _principal(hub, name):
    from hub.auth import Principal
    from hub.models import User

    with hub.store.reader() as session:
        row = session.scalar(select(User).where(User.name == name))
        return Principal(id=row.id, name=row.name, role=row.role, commune=row.commune)


def test_submit_approve_by_another_editor(author, approver, world):
    bid = write(author, action="submit")
    assert status_of(world, bid) == "pending"
    page = approver.get(f"/console/bulletins/{bid}")
    assert page.status_code == 200 and 'value="approve"' in page.text and 'value="reject"' in page.text
    assert 'name="reason"' in page.text
    r = act(approver, bid, "approve")
    assert r.status_code == 303 and r.headers["location"] == f"/console/bulletins/{bid}?done=approve"
    assert status_of(world, bid) == "approved"
    page = approver.get(r.headers["location"])
    assert "Đã duyệt" in page.text and "duyet" in page.text and "gửi duyệt" in page.text


def test_the_author_cannot_approve_their_own(author, world):
    bid = write(author, action="submit")
    page = author.get(f"/console/bulletins/{bid}")
    assert 'value="approve"' not in page.text
    r = act(author, bid, "approve")
    assert r.status_code == 403 and "không thể tự duyệt" in r.text
    assert status_of(world, bid) == "pending"


def test_reject_with_reason_then_edit_shows_the_diff(author, approver, world):
    bid = write(author, action="submit")
    assert act(approver, bid, "approve").status_code == 303
    page = author.get(f"/console/bulletins/{bid}/edit")
    assert page.status_code == 200 and "Lịch tiêm chủng" in page.text
    r = author.post(f"/console/bulletins/{bid}/edit", data=form_data(csrf(page.text), body="Tiêm tại nhà văn hoá lúc 8 giờ.",
                                                                     action="submit"), follow_redirects=False)
    assert r.status_code == 303 and status_of(world, bid) == "pending"
    page = approver.get(f"/console/bulletins/{bid}")
    assert "<del>trạm y tế xã</del>" in page.text and "<ins>nhà văn hoá</ins>" in page.text
    r = act(approver, bid, "reject", reason="Ghi rõ thôn nào")
    assert r.status_code == 303 and status_of(world, bid) == "rejected"
    page = author.get(f"/console/bulletins/{bid}")
    assert "Ghi rõ thôn nào" in page.text and "Bị từ chối" in page.text


def test_withdraw_and_a_stale_hash_is_409(author, approver, world):
    bid = write(author, action="submit")
    page = approver.get(f"/console/bulletins/{bid}")
    token = csrf(page.text)
    r = approver.post(f"/console/bulletins/{bid}", data={"csrf_token": token, "action": "approve",
                                                         "expected_hash": "0" * 64})
    assert r.status_code == 409 and "vừa được sửa" in r.text and status_of(world, bid) == "pending"
    # Without a reason: the page again, with what to do, and the bulletin stays where it was.
    r = act(author, bid, "withdraw")
    assert r.status_code == 422 and "Hãy ghi lý do thu hồi" in r.text and status_of(world, bid) == "pending"
    r = act(author, bid, "withdraw", reason="Trùng tin")
    assert r.status_code == 303 and status_of(world, bid) == "withdrawn"
    r = act(author, bid, "submit")
    assert r.status_code == 409 and status_of(world, bid) == "withdrawn"


@pytest.mark.parametrize("action", ["submit", "approve", "reject", "withdraw"])
def test_csrf_missing_or_wrong_is_403_and_changes_nothing(author, approver, world, action):
    bid = write(author, action="save" if action in ("submit", "withdraw") else "submit")
    before = (status_of(world, bid), count(world, AuditEvent))
    who = author if action in ("submit", "withdraw") else approver
    for token in (None, "nope"):
        data = {"action": action} | ({"csrf_token": token} if token else {})
        assert who.post(f"/console/bulletins/{bid}", data=data).status_code == 403
    assert (status_of(world, bid), count(world, AuditEvent)) == before
    r = author.post("/console/bulletins/new", data=form_data("nope"))
    assert r.status_code == 403 and count(world, Bulletin) == 1


def test_operator_sees_own_commune_only(app, author, world):
    theirs = write(author, targets=["B"])
    ours = write(author, targets=["A"])
    with signed_in(app, "vanhanh") as op:
        assert op.get(f"/console/bulletins/{theirs}").status_code == 404
        assert op.get(f"/console/bulletins/{theirs}/edit").status_code == 404
        page = op.get(f"/console/bulletins/{ours}")
        assert page.status_code == 200
        r = op.post(f"/console/bulletins/{theirs}", data={"csrf_token": csrf(page.text), "action": "withdraw"})
        assert r.status_code == 404 and status_of(world, theirs) == "draft"
        listing = op.get("/console/bulletins")
        assert f"/console/bulletins/{ours}" in listing.text and f"/console/bulletins/{theirs}" not in listing.text
        form = op.get("/console/bulletins/new")
        assert 'value="*"' not in form.text and 'value="B"' not in form.text
    with signed_in(app, "giamsat") as monitor:
        assert monitor.get("/console/bulletins/new").status_code == 404
        page = monitor.get(f"/console/bulletins/{ours}")
        assert page.status_code == 200 and 'name="action"' not in page.text
    assert author.get("/console/bulletins/not-an-id").status_code == 404


@pytest.mark.parametrize("overrides, message", [
    ({"title": ""}, "Hãy nhập tiêu đề."),
    ({"body": "  "}, "Hãy nhập nội dung."),
    ({"channels": []}, "Hãy chọn ít nhất một kênh."),
    ({"targets": []}, "Hãy chọn ít nhất một nơi phát."),
    ({"targets": ["*", "A"]}, "“Cả tỉnh”"),
    ({"targets": ["ZZ"]}, "không có trong danh sách"),
    ({"priority": "rất gấp"}, "Hãy chọn mức độ."),
    ({"valid_from": "2026-12-05T08:00", "valid_until": "2026-12-04T08:00"}, "phải sau"),
    ({"valid_from": "ngày mai"}, "Thời điểm không hợp lệ."),
    ({"repeat_count": "99"}, "từ 1 đến 50"),
    ({"cap_category": "Weather"}, "Hãy chọn loại cảnh báo"),
    ({"cap_event": "L" * 150}, "dài quá 120 ký tự"),
])
def test_a_bad_form_is_422_and_creates_nothing(author, world, overrides, message):
    page = author.get("/console/bulletins/new")
    r = author.post("/console/bulletins/new", data=form_data(csrf(page.text), **overrides))
    assert r.status_code == 422 and message in r.text
    assert count(world, Bulletin) == 0


def test_the_cap_fields_are_saved_shown_and_kept_on_edit(author, world):
    assert sorted(CAP_CATEGORIES) == sorted(SERVICE_CATEGORIES)
    bid = write(author, priority="emergency", cap_event="Lũ quét", cap_category="Met",
                instruction="Sơ tán khỏi ven suối.")
    shown = author.get(f"/console/bulletins/{bid}").text
    assert "Lũ quét" in shown and "Khí tượng, thủy văn" in shown and "Sơ tán khỏi ven suối." in shown
    form = author.get(f"/console/bulletins/{bid}/edit").text
    assert 'value="Lũ quét"' in form and '<option value="Met" selected>' in form
    assert ">Sơ tán khỏi ven suối.</textarea>" in form
    # Emptied on the form, they are cleared (the department's defaults apply again).
    r = author.post(f"/console/bulletins/{bid}/edit", data=form_data(csrf(form), priority="emergency"))
    assert r.status_code in (200, 303), r.text
    with world.store.reader() as session:
        revision = session.scalars(select(Revision).where(Revision.bulletin_id == bid)
                                   .order_by(Revision.revision.desc())).first()
    assert (revision.cap_event, revision.cap_category, revision.instruction) == (None, None, None)


def test_operator_targeting_another_commune_is_refused(app, world):
    with signed_in(app, "vanhanh") as op:
        page = op.get("/console/bulletins/new")
        r = op.post("/console/bulletins/new", data=form_data(csrf(page.text), targets=["B"]))
        assert r.status_code == 403 and "xã của mình" in r.text and count(world, Bulletin) == 0


def test_the_form_script_is_served(client):
    r = client.get("/console/static/bulletin-form.js")
    assert r.status_code == 200 and "X-CSRF-Token" in r.text and "/api/v1/speech/preview" in r.text
    assert "hubHear" in r.text and "/api/v1/slides/preview.png" in r.text
    # "Nghe thử" is hear.js's, shared with the pronunciation dictionary.
    r = client.get("/console/static/hear.js")
    assert r.status_code == 200 and "/api/v1/speech/preview.mp3" in r.text and "X-CSRF-Token" in r.text


# --- in Chromium -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from hub.config import Settings
    from hub.store import migrate
    from hub.testing import LiveServer

    data = tmp_path_factory.mktemp("bulletins-browser") / "var"
    data.mkdir()
    migrate(f"sqlite:///{data / 'hub.db'}")
    # Real plugins, quick rendering: espeak, one worker; slides on for the form's slide preview.
    settings = Settings(data_dir=data, workers=1, tts_engines=["espeak"])
    app = create_app(settings, pm=make_plugin_manager(settings))
    with LiveServer(app) as server:
        d = app.state.hub.services.directory
        d.add_commune(None, "LSN-CL", "Xã Cao Lộc")
        d.add_commune(None, "LSN-LVT", "Phường Lương Văn Tri")
        d.add_user(None, "bientap", "editor", password=PASSWORD)
        d.add_user(None, "truongphong", "editor", password=PASSWORD)
        yield server


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_write_submit_hear_approve_withdraw_in_chromium(live, size):
    from playwright import sync_api

    from tests.plugins.console_browser import SIZES, launch, look, sign_in

    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            editor = browser.new_context(viewport=SIZES[size]).new_page()
            sign_in(editor, live.url, "bientap", PASSWORD)
            editor.goto(live.url + "/console/bulletins")
            look(editor, "bulletins-list")
            editor.click("main a.button[href='/console/bulletins/new']")
            look(editor, "bulletin-new")
            title = f"Lịch tiêm chủng tháng 12 ({size})"
            editor.fill("#title", title)
            editor.fill("#body", "Trạm y tế xã tiêm vắc-xin sởi cho trẻ từ 9 tháng tuổi, 7h30 ngày 05/12/2026.")
            editor.wait_for_selector("#spoken:not([hidden])", timeout=10_000)
            assert "tháng" in editor.inner_text("#spoken-text")
            editor.click("#listen-button")  # "Nghe thử": the renderer's own voice, from a blob: URL
            editor.wait_for_function(
                "() => { const a = document.getElementById('listen-audio');"
                " return a.src.startsWith('blob:') && a.duration > 0; }", timeout=30_000)
            editor.wait_for_function(
                "() => { const i = document.querySelector('#slide-preview-img img');"
                " return i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0; }", timeout=20_000)
            assert editor.inner_text("#listen-status") == "Đây là giọng loa sẽ đọc. Bấm ▶ để nghe lại."
            look(editor, "bulletin-new-heard")
            editor.check("input[name=targets][value='LSN-CL']")
            editor.fill("#valid_from", "2026-12-04T07:00")
            # The CAP fields sit folded under their own heading; opened, they take the editor's words.
            editor.click("details:has(#cap_event) > summary")
            editor.fill("#cap_event", "Tiêm chủng")
            editor.select_option("#cap_category", "Health")
            editor.fill("#instruction", "Mang theo sổ tiêm chủng.")
            look(editor, "bulletin-new-filled")
            editor.click("button[name=action][value=submit]")
            editor.wait_for_load_state()
            assert "Đã gửi duyệt" in editor.inner_text("main")
            assert editor.locator("button[name=action][value=approve]").count() == 0
            look(editor, "bulletin-submitted")
            address = editor.url.split("?")[0]

            approver = browser.new_context(viewport=SIZES[size]).new_page()
            sign_in(approver, live.url, "truongphong", PASSWORD)
            approver.goto(address)
            for _ in range(60):  # the render runs in the hub's worker: wait for it, bounded
                if approver.inner_text("#render-status") in ("Đã tạo xong", "Tạo bị lỗi"):
                    break
                time.sleep(0.5)
                approver.reload()
            assert approver.inner_text("#render-status") == "Đã tạo xong"
            player = approver.locator("figure.audio audio[controls]")
            assert player.count() >= 1 and player.first.get_attribute("src").startswith("/media/")
            # The approver really hears and sees it: the browser loads the unpublished audio and
            # slides with the sign-in cookie alone (they answered 401 before the media route took it).
            approver.wait_for_function(
                "() => { const a = document.querySelector('figure.audio audio[controls]');"
                " a.preload = 'auto'; if (a.readyState === 0) { a.load(); }"
                " return a.readyState >= 1 && a.duration > 0; }", timeout=20_000)
            approver.wait_for_function(
                "() => Array.from(document.querySelectorAll('main img[src^=\"/media/\"]'))"
                ".every(i => i.complete && i.naturalWidth > 0)", timeout=20_000)
            facts = approver.inner_text("dl.bulletin-facts")
            assert "Tiêm chủng" in facts and "Y tế, dịch bệnh" in facts and "Mang theo sổ tiêm chủng." in facts
            look(approver, "bulletin-approval")
            approver.click("button[name=action][value=approve]")
            approver.wait_for_load_state()
            assert "Đã duyệt" in approver.inner_text("main")
            look(approver, "bulletin-approved")

            editor.goto(address)
            editor.fill("#reason", "Đổi lịch tiêm")
            editor.click("button[name=action][value=withdraw]")
            editor.wait_for_load_state()
            assert "Đã thu hồi" in editor.inner_text("main")
            look(editor, "bulletin-withdrawn")
            editor.goto(live.url + "/console/bulletins?q=" + "tiêm")
            assert title in editor.inner_text("main")
            look(editor, "bulletins-list-search")
        finally:
            browser.close()


def test_a_huge_offset_shows_an_empty_page_not_an_error(author):
    for offset in ("9" * 30, "9223372036854775808", "-5", "nhiều"):
        response = author.get("/console/bulletins", params={"offset": offset})
        assert response.status_code == 200, (offset, response.text[:200])


def test_the_approval_page_media_answer_to_the_sign_in_cookie(app, author, approver, hub):
    """Unpublished media are the approver's to hear: the page's <audio> sends only the cookie."""
    from hub.models import MediaObject

    sha = hub.media.put(b"ID3 approval preview bytes")
    with hub.store.session() as session:
        session.add(MediaObject(sha256=sha, bytes=26, mime="audio/mpeg", uploaded_by="test", meta={}))
    assert approver.get(f"/media/{sha}").status_code == 200
    anonymous = TestClient(app)
    assert anonymous.get(f"/media/{sha}").status_code == 401
    anonymous.cookies.set("hub_session", "not-a-session")
    assert anonymous.get(f"/media/{sha}").status_code == 401
