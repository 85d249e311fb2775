"""``/console/account``: one's own password (this session stays, the others end) and sessions."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from hub.app import create_app
from hub.models import AuditEvent, User
from hub.plugins import make_plugin_manager
from tests.plugins.console_client import PASSWORD, csrf, signed_in

NEW = "mat-khau-moi-that-dai"


@pytest.fixture
def user(hub):
    hub.services.directory.add_commune(None, "A", "Xã Ái")
    return hub.services.directory.add_user(None, "bientap", "operator", "A", password=PASSWORD)


def password_hash(hub, uid):
    with hub.store.reader() as session:
        return session.get(User, uid).password_hash


def test_every_signed_in_user_has_an_account_page(app, user, client):
    assert client.get("/console/account", follow_redirects=False).status_code == 303
    with signed_in(app, "bientap") as c:
        page = c.get("/console/account")
        assert page.status_code == 200
        for text in ("bientap", "Cán bộ vận hành xã", "Xã Ái", "Đổi mật khẩu", "Phiên này"):
            assert text in page.text


def test_change_password_keeps_this_session_and_ends_the_others(app, user, hub):
    with signed_in(app, "bientap", agent="Phone") as phone, signed_in(app, "bientap", agent="Desktop-PC") as desk:
        page = phone.get("/console/account")
        assert "Desktop-PC" in page.text and "Phiên khác" in page.text
        r = phone.post("/console/account/password", data={"csrf_token": csrf(page.text), "current_password": PASSWORD,
                                                          "password": NEW, "password_again": NEW}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/account?done=password"
        assert "Đã đổi mật khẩu" in phone.get(r.headers["location"]).text
        assert desk.get("/console", follow_redirects=False).status_code == 303
        assert "Desktop-PC" not in phone.get("/console/account").text
    with signed_in(app, "bientap", password=NEW) as again:
        assert again.get("/console").status_code == 200
    with hub.store.reader() as session:
        row = session.scalars(select(AuditEvent).where(AuditEvent.action == "change_password")).one()
        assert row.actor == user["id"] and row.detail == {"sessions_ended": 1}


@pytest.mark.parametrize("current,new,again,message", [
    ("sai-mat-khau", NEW, NEW, "Mật khẩu hiện tại không đúng."),
    (PASSWORD, NEW, NEW + "x", "không khớp"),
    (PASSWORD, "ngan", "ngan", "8 ký tự"),
])
def test_bad_password_change_is_422_and_changes_nothing(app, user, hub, current, new, again, message):
    before = password_hash(hub, user["id"])
    with signed_in(app, "bientap") as c, signed_in(app, "bientap", agent="other") as other:
        page = c.get("/console/account")
        r = c.post("/console/account/password", data={"csrf_token": csrf(page.text), "current_password": current,
                                                      "password": new, "password_again": again})
        assert r.status_code == 422 and message in r.text
        assert password_hash(hub, user["id"]) == before
        assert other.get("/console").status_code == 200


def test_guessing_the_current_password_is_throttled(app, user):
    with signed_in(app, "bientap") as c:
        page = c.get("/console/account")
        for _ in range(5):
            r = c.post("/console/account/password", data={"csrf_token": csrf(page.text), "current_password": "doan-mo",
                                                          "password": NEW, "password_again": NEW})
            assert r.status_code == 422
        r = c.post("/console/account/password", data={"csrf_token": csrf(page.text), "current_password": PASSWORD,
                                                      "password": NEW, "password_again": NEW})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


def test_csrf_missing_or_wrong_is_403_and_changes_nothing(app, user, hub):
    before = password_hash(hub, user["id"])
    with signed_in(app, "bientap") as c, signed_in(app, "bientap", agent="other") as other:
        for extra in ({}, {"csrf_token": "x" * 64}):
            assert c.post("/console/account/password", data={"current_password": PASSWORD, "password": NEW,
                                                             "password_again": NEW, **extra}).status_code == 403
            assert c.post("/console/account/sessions", data=extra).status_code == 403
        assert password_hash(hub, user["id"]) == before
        assert other.get("/console").status_code == 200


def test_end_one_other_session_or_all_others(app, user):
    with signed_in(app, "bientap") as me, signed_in(app, "bientap", agent="second") as second, signed_in(app, "bientap", agent="third") as third:
        page = me.get("/console/account")
        handles = re.findall(r'name="session" value="([0-9a-f]+)"', page.text)
        assert len(handles) == 2
        # The handle of the second session (listed newest first: third, then second).
        r = me.post("/console/account/sessions", data={"csrf_token": csrf(page.text), "session": handles[1]},
                    follow_redirects=False)
        assert r.status_code == 303
        assert second.get("/console", follow_redirects=False).status_code == 303
        assert third.get("/console").status_code == 200
        r = me.post("/console/account/sessions", data={"csrf_token": csrf(page.text)}, follow_redirects=False)
        assert r.status_code == 303
        assert third.get("/console", follow_redirects=False).status_code == 303
        assert me.get("/console").status_code == 200


# --- in Chromium -------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_account_page_in_chromium(settings, size):
    from playwright import sync_api

    from hub.testing import LiveServer
    from tests.plugins.console_browser import SIZES, launch, look, sign_in

    app = create_app(settings, pm=make_plugin_manager(settings))
    with LiveServer(app) as server:
        app.state.hub.services.directory.add_user(None, "giamsat", "monitor", password=PASSWORD)
        app.state.hub.services.sessions.sign_in("giamsat", PASSWORD, ip="10.0.0.7", user_agent="Mozilla/5.0 (Android)")
        with sync_api.sync_playwright() as playwright:
            browser = launch(playwright)
            try:
                page = browser.new_page(viewport=SIZES[size])
                sign_in(page, server.url, "giamsat", PASSWORD)
                page.goto(server.url + "/console/account")
                look(page, "account")
                page.fill("#current_password", "sai-mat-khau")
                page.fill("#password", NEW)
                page.fill("#password_again", NEW)
                page.click("text=Đổi mật khẩu >> nth=-1")
                assert "Mật khẩu hiện tại không đúng." in page.inner_text("main")
                look(page, "account-error")
                page.fill("#current_password", PASSWORD)
                page.fill("#password", NEW)
                page.fill("#password_again", NEW)
                page.locator("main form[action='/console/account/password'] button").click()
                assert "Đã đổi mật khẩu" in page.inner_text("main")
                look(page, "account-changed")
            finally:
                browser.close()
