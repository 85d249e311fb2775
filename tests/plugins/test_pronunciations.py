"""The province's pronunciation dictionary (issue 16): stored in the database beside the YAML
lexicons, edited by an administrator in the console, heard with "Nghe thử", used by the next render."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.app import create_app
from hub.auth import Principal
from hub.errors import Conflict, Forbidden, Invalid
from hub.models import AuditEvent, User
from hub.plugins import make_plugin_manager
from hub.services.pronunciations import check_entry, entries_for
from tests.conftest import People, bulletin_payload
from tests.plugins.console_client import PASSWORD, csrf, signed_in


@pytest.fixture
def app(settings):
    local = settings.model_copy(update={"tts_engines": ["espeak"], "disabled_plugins": ["slides"]})
    with TestClient(create_app(local, pm=make_plugin_manager(local))) as client:
        hub = client.app.state.hub
        hub.services.directory.add_user(None, "quantri", "admin", password=PASSWORD)
        hub.services.directory.add_user(None, "bientap", "editor", password=PASSWORD)
        yield client.app


@pytest.mark.parametrize(("written", "spoken", "message"), [
    ("", "x", "blank"), ("Khau Phạ", "  ", "blank"), ("123", "một hai ba", "contain a letter"),
    ("x" * 81, "x", "too long"), ("Pò Mã", "thôn Pò Mã", "read twice"),
])
def test_bad_entries_are_refused(written, spoken, message):
    with pytest.raises(Invalid, match=message):
        check_entry(written, spoken)


def test_entries_are_cleaned():
    assert check_entry("  Khau\u00a0 Pha\u0323 ", "Khau  Phả") == ("Khau Phạ", "Khau Phả")


def test_the_next_render_reads_the_dictionary(app):
    hub = app.state.hub
    with hub.store.reader() as session:
        admin_id = session.scalars(select(User.id).where(User.name == "quantri")).one()
    admin = Principal(id=admin_id, name="quantri", role="admin")
    people = People(hub)
    people.commune("A")
    author, approver = people.user("a", "editor"), people.user("b", "editor")
    client = TestClient(app)

    def spoken(body: str) -> str:
        bid = client.post("/api/v1/bulletins", json=bulletin_payload(targets=["A"], channels=["speaker"], title="Tin",
                                                                      body=body), headers=author).json()["id"]
        client.post(f"/api/v1/bulletins/{bid}/submit", headers=author)
        client.post(f"/api/v1/bulletins/{bid}/approve", headers=approver)
        while hub.pipeline.run_one():
            pass
        view = client.get(f"/api/v1/bulletins/{bid}", headers=author).json()
        return next(a for a in view["artifacts"] if a["kind"] == "audio")["spoken_text"]

    assert "BQLDA" in spoken("BQLDA xã Khau Phạ họp.")
    entry = hub.services.pronunciations.put(admin, "BQLDA", "Ban quản lý dự án", "Lạng Sơn")
    hub.services.pronunciations.put(admin, "Khau Phạ", "Khau Phả")
    assert spoken("BQLDA xã Khau Phạ họp lần hai.") == "Tin.\n\nBan quản lý dự án xã Khau Phả họp lần hai."
    preview = client.post("/api/v1/speech/preview", json={"text": "BQLDA họp."}, headers=author).json()
    assert preview == {"spoken_text": "Ban quản lý dự án họp.", "unread": []}
    # The dictionary wins over the built-in YAML lexicon, and a removed entry is gone at once.
    hub.services.pronunciations.put(admin, "UBND", "Uỷ ban nhân dân")
    assert entries_for(hub.settings)["UBND"] == "Uỷ ban nhân dân"
    assert client.post("/api/v1/speech/preview", json={"text": "UBND"}, headers=author).json()["spoken_text"] == "Uỷ ban nhân dân"
    hub.services.pronunciations.delete(admin, entry["id"])
    assert "BQLDA" not in entries_for(hub.settings)
    with pytest.raises(Conflict):
        hub.services.pronunciations.put(admin, "Khau Phạ", "Khau Phá")
    # Entries may not feed each other: reading the text twice must give the same words.
    with pytest.raises(Invalid, match="itself in the dictionary"):
        hub.services.pronunciations.put(admin, "ĐKP", "đèo Khau Phạ")
    with pytest.raises(Invalid, match="holds this written form"):
        hub.services.pronunciations.put(admin, "Khau", "Khâu")
    with pytest.raises(Forbidden):
        hub.services.pronunciations.put(Principal(id="x", name="bientap", role="editor"), "A B", "a bê")
    with hub.store.reader() as session:
        actions = [(e.action, e.actor) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.object_type == "pronunciation").order_by(AuditEvent.id))]
    assert actions == [("create", admin.id)] * 3 + [("delete", admin.id)]


@pytest.mark.sqlite_only  # the same service; its PostgreSQL lane: test_the_next_render_reads_the_dictionary
def test_console_page_add_edit_delete_for_administrators_only(app):
    admin = signed_in(app, "quantri")
    page = admin.get("/console/pronunciations")
    assert page.status_code == 200 and "Từ điển phát âm của tỉnh" in page.text and "Chưa có từ nào" in page.text
    token = csrf(page.text)
    r = admin.post("/console/pronunciations", data={"csrf_token": token, "written": "Khau Phạ", "spoken": "Khau Phả",
                                                    "note": "đèo ở Mù Cang Chải"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/pronunciations?done=added"
    page = admin.get("/console/pronunciations?done=added")
    assert "Đã thêm vào từ điển." in page.text and "Khau Phả" in page.text and 'data-text="Khau Phạ"' in page.text
    # Refused input: 422, the form keeps what was typed, nothing changes.
    r = admin.post("/console/pronunciations", data={"csrf_token": token, "written": "Khau Phạ", "spoken": "x"})
    assert r.status_code == 422 and "đã có trong từ điển" in r.text
    r = admin.post("/console/pronunciations", data={"csrf_token": token, "written": "Pò Mã", "spoken": "thôn Pò Mã"})
    assert r.status_code == 422 and "đọc lặp" in r.text and 'value="thôn Pò Mã"' in r.text
    assert admin.post("/console/pronunciations", data={"written": "A B", "spoken": "a bê"}).status_code == 403
    entry = app.state.hub.services.pronunciations.list()[0]
    edit = admin.get(f"/console/pronunciations/{entry['id']}")
    assert edit.status_code == 200 and 'value="Khau Phả"' in edit.text
    r = admin.post(f"/console/pronunciations/{entry['id']}", data={"csrf_token": token, "written": "Khau Phạ",
                                                                   "spoken": "Khau Phà", "note": ""}, follow_redirects=False)
    assert r.status_code == 303
    assert app.state.hub.services.pronunciations.list()[0]["spoken"] == "Khau Phà"
    assert entries_for(app.state.hub.settings) == {"Khau Phạ": "Khau Phà"}
    r = admin.post(f"/console/pronunciations/{entry['id']}/delete", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and app.state.hub.services.pronunciations.list() == []
    assert admin.get(f"/console/pronunciations/{entry['id']}").status_code == 404
    # Only an administrator sees the page (anyone else: the console's 404; nobody signed in: sign in).
    editor = signed_in(app, "bientap")
    assert editor.get("/console/pronunciations").status_code == 404
    page = editor.get("/console")
    assert "/console/pronunciations" not in page.text
    token = csrf(page.text)
    assert editor.post("/console/pronunciations", data={"csrf_token": token, "written": "A B", "spoken": "a bê"}).status_code == 404
    assert TestClient(app).get("/console/pronunciations", follow_redirects=False).status_code == 303


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from hub.config import Settings
    from hub.store import migrate
    from hub.testing import LiveServer

    data = tmp_path_factory.mktemp("pronunciations-browser") / "var"
    data.mkdir()
    migrate(f"sqlite:///{data / 'hub.db'}")
    settings = Settings(data_dir=data, workers=1, tts_engines=["espeak"], disabled_plugins=["slides"])
    app = create_app(settings, pm=make_plugin_manager(settings))
    with LiveServer(app) as server:
        app.state.hub.services.directory.add_user(None, "quantri", "admin", password=PASSWORD)
        yield server


def test_add_and_hear_an_entry_and_see_unread_words_in_chromium(live):
    from playwright import sync_api

    from tests.plugins.console_browser import SIZES, launch, look, sign_in

    hears = "() => { const a = document.querySelector('%s .hear-audio'); return a.src.startsWith('blob:') && a.duration > 0; }"
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            phone = browser.new_context(viewport=SIZES["phone"]).new_page()
            sign_in(phone, live.url, "quantri", PASSWORD)
            phone.goto(live.url + "/console/pronunciations")
            look(phone, "pronunciations-empty")
            phone.fill("#written", "QLTTBCGĐ")
            phone.fill("#spoken", "Phòng quản lý thông tin báo chí gia đình")
            phone.click("section[aria-labelledby=add-heading] button.hear")  # hear the reading as typed
            phone.wait_for_function(hears % "section[aria-labelledby=add-heading]", timeout=30_000)
            phone.click("section[aria-labelledby=add-heading] button[type=submit]")
            phone.wait_for_selector("p.notice")
            assert "Phòng quản lý thông tin báo chí gia đình" in phone.inner_text("ul.records")
            phone.click("ul.records button.hear")  # the written form through the chain, dictionary applied
            phone.wait_for_function(hears % "section[aria-labelledby=list-heading]", timeout=30_000)
            look(phone, "pronunciations")

            desktop = browser.new_context(viewport=SIZES["desktop"]).new_page()
            sign_in(desktop, live.url, "quantri", PASSWORD)
            desktop.goto(live.url + "/console/pronunciations")
            look(desktop, "pronunciations")
            desktop.click("ul.records a.button")
            look(desktop, "pronunciation")
            desktop.fill("#note", "Sở Văn hoá")
            desktop.click("button[type=submit].primary")
            desktop.wait_for_selector("p.notice")
            assert "Sở Văn hoá" in desktop.inner_text("ul.records")
            # The bulletin form lists what the normaliser cannot read; a dictionary word is read.
            desktop.goto(live.url + "/console/bulletins/new")
            desktop.fill("#body", "BQLDA và QLTTBCGĐ họp, xem trên Facebook.")
            desktop.wait_for_selector("#unread:not([hidden])", timeout=10_000)
            listed = desktop.inner_text("#unread-list")
            assert "BQLDA" in listed and "Facebook" in listed and "QLTTBCGĐ" not in listed
            assert "Phòng quản lý thông tin báo chí gia đình" in desktop.inner_text("#spoken-text")
            look(desktop, "bulletin-new-unread")
        finally:
            browser.close()


@pytest.mark.sqlite_only  # the same service; its PostgreSQL lane: test_the_next_render_reads_the_dictionary
def test_the_api_door(app):
    hub = app.state.hub
    people = People(hub)
    admin, editor = people.user("qt2", "admin"), people.user("bt2", "editor")
    client = TestClient(app)
    r = client.post("/api/v1/pronunciations", json={"written": "Khau Phạ", "spoken": "Khau Phả"}, headers=admin)
    assert r.status_code == 201, r.text
    entry = r.json()
    assert client.post("/api/v1/pronunciations", json={"written": "Khau Phạ", "spoken": "x"}, headers=admin).status_code == 409
    assert client.post("/api/v1/pronunciations", json={"written": "Pò", "spoken": "Pò Mã"}, headers=admin).status_code == 422
    assert client.post("/api/v1/pronunciations", json={"written": "A B", "spoken": "a"}, headers=editor).status_code == 403
    assert client.post("/api/v1/pronunciations", json={"written": "A B", "spoken": "a", "x": 1}, headers=admin).status_code == 422
    assert [e["written"] for e in client.get("/api/v1/pronunciations", headers=editor).json()] == ["Khau Phạ"]
    r = client.put(f"/api/v1/pronunciations/{entry['id']}", json={"written": "Khau Phạ", "spoken": "Khau Phà"}, headers=admin)
    assert r.status_code == 200 and r.json()["spoken"] == "Khau Phà"
    assert client.post("/api/v1/speech/preview", json={"text": "Đèo Khau Phạ."}, headers=editor).json()["spoken_text"] == "Đèo Khau Phà."
    assert client.delete(f"/api/v1/pronunciations/{entry['id']}", headers=admin).status_code == 204
    assert client.delete(f"/api/v1/pronunciations/{entry['id']}", headers=admin).status_code == 404
    assert client.get("/api/v1/pronunciations").status_code == 401
