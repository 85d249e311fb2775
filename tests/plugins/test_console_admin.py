"""The console's administration pages: users, communes, devices and the audit log.

TestClient for every page and action (CSRF, roles, bad input, tokens shown once, deactivation and
rotation taking effect at once); one Chromium module at the end walks every page at both sizes.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from hub.app import create_app
from hub.models import AuditEvent, Commune, Device, User
from hub.plugins import make_plugin_manager
from tests.plugins.console_client import PASSWORD, csrf, signed_in


@pytest.fixture
def world(client, hub):
    d = hub.services.directory
    d.add_commune(None, "A", "Xã Ái")
    d.add_commune(None, "B", "Xã Bé")
    ids = {}
    for name, role, commune in (("quantri", "admin", None), ("bientap", "editor", None), ("giamsat", "monitor", None),
                                ("vanhanh", "operator", "A"), ("vanhanh-b", "operator", "B")):
        ids[name] = d.add_user(None, name, role, commune, password=PASSWORD)["id"]
    ids["loa"] = d.register_device(None, "Loa thôn 1", "A")["id"]
    ids["loa-b"] = d.register_device(None, "Loa thôn B", "B")["id"]
    return ids


@pytest.fixture
def admin(app, world):
    with signed_in(app, "quantri") as c:
        yield c


def count(hub, model) -> int:
    with hub.store.reader() as session:
        return session.scalar(select(func.count()).select_from(model))


def audit_rows(hub) -> int:
    return count(hub, AuditEvent)


PAGES = ["/console/users", "/console/users/new", "/console/communes", "/console/communes/new",
         "/console/communes/A", "/console/audit"]


@pytest.mark.parametrize("name", ["bientap", "giamsat", "vanhanh"])
def test_admin_pages_are_404_to_others(app, world, name):
    with signed_in(app, name) as c:
        for path in PAGES + [f"/console/users/{world['quantri']}"]:
            if path == "/console/audit" and name == "giamsat":
                continue
            assert c.get(path).status_code == 404, path
        before = count(c.app.state.hub, User)
        home = c.get("/console")
        r = c.post("/console/users", data={"csrf_token": csrf(home.text), "name": "x", "role": "editor",
                                           "password": PASSWORD, "password_again": PASSWORD})
        assert r.status_code == 404 and count(c.app.state.hub, User) == before
        r = c.post(f"/console/users/{world['bientap']}/active", data={"csrf_token": csrf(home.text), "active": "false"})
        assert r.status_code == 404


def test_signed_out_is_sent_to_sign_in(client, world):
    r = client.get("/console/users", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_users_list_shows_roles_in_vietnamese(admin, world):
    page = admin.get("/console/users")
    assert page.status_code == 200
    for text in ("Quản trị viên", "Biên tập viên", "Cán bộ vận hành xã", "Giám sát viên", "Xã Ái", "Đang hoạt động",
                 "Đã đặt"):
        assert text in page.text
    assert "Chưa đăng nhập" in page.text  # bientap never signed in


def test_add_a_user_shows_the_token_once(admin, hub):
    form = admin.get("/console/users/new")
    assert form.status_code == 200
    r = admin.post("/console/users", data={"csrf_token": csrf(form.text), "name": "moi", "role": "operator",
                                           "commune": "B", "password": "mat-khau-ban-dau",
                                           "password_again": "mat-khau-ban-dau"})
    assert r.status_code == 200
    token = re.search(r"hubu_[A-Za-z0-9_-]+", r.text).group(0)
    assert admin.get("/api/v1/bulletins", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with hub.store.reader() as session:
        user = session.scalar(select(User).where(User.name == "moi"))
        assert user.commune == "B" and user.role == "operator"
    listing = admin.get("/console/users")
    assert token not in listing.text and token not in admin.get(f"/console/users/{user.id}").text
    with signed_in(admin.app, "moi", "mat-khau-ban-dau") as c:
        assert c.get("/console").status_code == 200


@pytest.mark.parametrize("data,message", [
    ({"name": "", "role": "editor"}, "Hãy nhập tên"),
    ({"name": "bientap", "role": "editor"}, "đã có người dùng"),
    ({"name": "x", "role": "operator", "commune": ""}, "phải thuộc một xã"),
    ({"name": "x", "role": "king"}, "vai trò"),
    ({"name": "x", "role": "editor", "password": "ngan", "password_again": "ngan"}, "8 ký tự"),
    ({"name": "x", "role": "editor", "password_again": "khac-hoan-toan"}, "không khớp"),
])
def test_bad_new_user_is_422_and_adds_nobody(admin, hub, data, message):
    before, rows = count(hub, User), audit_rows(hub)
    form = {"password": "mat-khau-ban-dau", "password_again": "mat-khau-ban-dau", **data,
            "csrf_token": csrf(admin.get("/console/users/new").text)}
    r = admin.post("/console/users", data=form)
    assert r.status_code == 422 and message in r.text
    assert count(hub, User) == before and audit_rows(hub) == rows


def test_csrf_missing_or_wrong_is_403_and_changes_nothing(admin, hub, world):
    rows = audit_rows(hub)
    posts = [("/console/users", {"name": "x", "role": "editor", "password": PASSWORD, "password_again": PASSWORD}),
             (f"/console/users/{world['bientap']}", {"role": "monitor"}),
             (f"/console/users/{world['bientap']}/password", {"password": "moi-moi-moi", "password_again": "moi-moi-moi"}),
             (f"/console/users/{world['bientap']}/active", {"active": "false"}),
             ("/console/communes", {"code": "C", "name": "Xã C"}),
             ("/console/communes/A", {"name": "Đổi tên"}),
             ("/console/devices", {"name": "Loa", "commune": "A", "kind": "speaker"}),
             (f"/console/devices/{world['loa']}/token", {}),
             (f"/console/devices/{world['loa']}/active", {"active": "false"})]
    for path, data in posts:
        for token in (None, "x" * 64):
            body = dict(data, **({"csrf_token": token} if token else {}))
            assert admin.post(path, data=body).status_code == 403, path
    assert audit_rows(hub) == rows


def test_change_role_and_commune(admin, hub, world):
    uid = world["vanhanh"]
    page = admin.get(f"/console/users/{uid}")
    r = admin.post(f"/console/users/{uid}", data={"csrf_token": csrf(page.text), "role": "operator", "commune": "B"},
                   follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/console/users/{uid}?done=saved"
    assert "Đã lưu" in admin.get(r.headers["location"]).text
    r = admin.post(f"/console/users/{uid}", data={"csrf_token": csrf(page.text), "role": "editor", "commune": "B"},
                   follow_redirects=False)
    with hub.store.reader() as session:
        user = session.get(User, uid)
        assert (user.role, user.commune) == ("editor", None)
    rows = audit_rows(hub)
    r = admin.post(f"/console/users/{uid}", data={"csrf_token": csrf(page.text), "role": "operator", "commune": ""})
    assert r.status_code == 422 and "phải thuộc một xã" in r.text and audit_rows(hub) == rows
    assert admin.post("/console/users/nobody", data={"csrf_token": csrf(page.text), "role": "editor"}).status_code == 404


def test_an_admin_cannot_demote_or_deactivate_themselves(admin, hub, world):
    me = world["quantri"]
    page = admin.get(f"/console/users/{me}")
    assert "Đây là tài khoản của bạn" in page.text and f"/console/users/{me}/active" not in page.text
    r = admin.post(f"/console/users/{me}/active", data={"csrf_token": csrf(page.text), "active": "false"})
    assert r.status_code == 422 and "không thể tự" in r.text
    assert admin.get("/console/users").status_code == 200


def test_deactivation_ends_their_sessions_at_once(app, admin, hub, world):
    with signed_in(app, "bientap") as victim:
        assert victim.get("/console").status_code == 200
        page = admin.get(f"/console/users/{world['bientap']}")
        r = admin.post(f"/console/users/{world['bientap']}/active", data={"csrf_token": csrf(page.text), "active": "false"},
                       follow_redirects=False)
        assert r.status_code == 303
        assert victim.get("/console", follow_redirects=False).status_code == 303
        assert "Đã ngừng hoạt động" in admin.get("/console/users").text
        with hub.store.reader() as session:
            row = session.scalars(select(AuditEvent).where(AuditEvent.object_id == world["bientap"])
                                  .order_by(AuditEvent.id.desc())).first()
            assert row.action == "deactivate" and row.actor == world["quantri"] and row.detail["sessions_ended"] == 1
        form = victim.get("/login")
        again = victim.post("/login", data={"username": "bientap", "password": PASSWORD, "csrf_token": csrf(form.text)},
                            follow_redirects=False)
        assert again.status_code == 200 and "không đúng" in again.text
        admin.post(f"/console/users/{world['bientap']}/active", data={"csrf_token": csrf(page.text), "active": "true"})
    with signed_in(app, "bientap") as back:
        assert back.get("/console").status_code == 200


def test_password_reset_ends_sessions_and_the_new_one_works(app, admin, hub, world):
    uid = world["giamsat"]
    with signed_in(app, "giamsat") as user:
        page = admin.get(f"/console/users/{uid}")
        bad = admin.post(f"/console/users/{uid}/password", data={"csrf_token": csrf(page.text), "password": "ngan",
                                                                 "password_again": "ngan"})
        assert bad.status_code == 422 and "8 ký tự" in bad.text
        assert user.get("/console").status_code == 200
        r = admin.post(f"/console/users/{uid}/password", data={"csrf_token": csrf(page.text), "password": "mat-khau-moi-1",
                                                               "password_again": "mat-khau-moi-1"}, follow_redirects=False)
        assert r.status_code == 303
        assert user.get("/console", follow_redirects=False).status_code == 303
    with signed_in(app, "giamsat", "mat-khau-moi-1") as c:
        assert c.get("/console").status_code == 200


def test_communes_list_add_and_edit(admin, hub):
    assert "Xã Ái" in admin.get("/console/communes").text
    form = admin.get("/console/communes/new")
    r = admin.post("/console/communes", data={"csrf_token": csrf(form.text), "code": "LSN-CL", "name": "Xã Cao Lộc",
                                              "voice": ""}, follow_redirects=False)
    assert r.status_code == 303 and "Xã Cao Lộc" in admin.get("/console/communes").text
    before = count(hub, Commune)
    for data, message in (({"code": "LSN-CL", "name": "Lại"}, "đã có"), ({"code": "có dấu", "name": "X"}, "Mã chỉ gồm"),
                          ({"code": "OK", "name": ""}, "Hãy nhập tên")):
        r = admin.post("/console/communes", data={"csrf_token": csrf(form.text), **data})
        assert r.status_code == 422 and message in r.text
    assert count(hub, Commune) == before
    edit = admin.get("/console/communes/LSN-CL")
    assert edit.status_code == 200
    r = admin.post("/console/communes/LSN-CL", data={"csrf_token": csrf(edit.text), "name": "Xã Cao Lộc mới",
                                                     "voice": "vi-VN-x-south"}, follow_redirects=False)
    assert r.status_code == 303
    assert hub.services.directory.commune("LSN-CL") == {"code": "LSN-CL", "id": "LSN-CL", "name": "Xã Cao Lộc mới",
                                                        "voice": "vi-VN-x-south"}
    r = admin.post("/console/communes/LSN-CL", data={"csrf_token": csrf(edit.text), "name": "  ", "voice": ""})
    assert r.status_code == 422 and hub.services.directory.commune("LSN-CL")["voice"] == "vi-VN-x-south"
    assert admin.get("/console/communes/NOPE").status_code == 404


def test_devices_list_by_role(app, world):
    for name, sees, not_sees in (("quantri", ["Loa thôn 1", "Loa thôn B"], []), ("giamsat", ["Loa thôn 1", "Loa thôn B"], []),
                                 ("bientap", ["Loa thôn 1", "Loa thôn B"], []), ("vanhanh", ["Loa thôn 1"], ["Loa thôn B"])):
        with signed_in(app, name) as c:
            page = c.get("/console/devices")
            assert page.status_code == 200
            assert all(s in page.text for s in sees) and not any(s in page.text for s in not_sees)
            assert "Chưa kết nối lần nào" in page.text
            may = name in ("quantri", "vanhanh")
            assert ("/console/devices/new" in page.text) == may
            assert c.get("/console/devices/new").status_code == (200 if may else 404)


def test_register_a_device_shows_token_qr_and_command_once(app, world, hub):
    with signed_in(app, "vanhanh") as c:
        form = c.get("/console/devices/new")
        assert "Xã Bé" not in form.text  # an operator registers only in its own commune
        r = c.post("/console/devices", data={"csrf_token": csrf(form.text), "name": "Loa chợ", "commune": "A",
                                             "kind": "speaker"})
        assert r.status_code == 200
        token = re.search(r"hubd_[A-Za-z0-9_-]+", r.text).group(0)
        assert 'src="data:image/svg+xml;base64,' in r.text
        assert f"hub agent --server {hub.settings.public_url} --token {token}" in r.text
        assert "/console/static/admin.js" in r.text
        assert c.get("/api/v1/device/manifest", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert token not in c.get("/console/devices").text
        before = count(hub, Device)
        for data, status in (({"name": "", "commune": "A", "kind": "speaker"}, 422),
                             ({"name": "Loa", "commune": "B", "kind": "speaker"}, 422),
                             ({"name": "Loa", "commune": "A", "kind": "toaster"}, 422)):
            assert c.post("/console/devices", data={"csrf_token": csrf(form.text), **data}).status_code == status
        assert count(hub, Device) == before
    with signed_in(app, "quantri") as c:
        form = c.get("/console/devices/new")
        r = c.post("/console/devices", data={"csrf_token": csrf(form.text), "name": "Bảng tin", "commune": "B",
                                             "kind": "display"})
        assert r.status_code == 200 and "/display?token=hubd_" in r.text


def test_rotated_token_is_refused_at_once(admin, hub):
    old = hub.services.directory.register_device(None, "Loa đổi mã", "A")
    did, old_auth = old["id"], {"Authorization": f"Bearer {old['token']}"}
    assert admin.get("/api/v1/device/manifest", headers=old_auth).status_code == 200
    confirm = admin.get(f"/console/devices/{did}/token")
    assert confirm.status_code == 200 and "ngừng hoạt động ngay" in confirm.text
    assert admin.get("/api/v1/device/manifest", headers=old_auth).status_code == 200, "a GET changes nothing"
    r = admin.post(f"/console/devices/{did}/token", data={"csrf_token": csrf(confirm.text)})
    assert r.status_code == 200 and "Đã cấp mã mới" in r.text
    new = re.search(r"hubd_[A-Za-z0-9_-]+", r.text).group(0)
    assert new != old["token"]
    assert admin.get("/api/v1/device/manifest", headers=old_auth).status_code == 401
    assert admin.get("/api/v1/device/manifest", headers={"Authorization": f"Bearer {new}"}).status_code == 200


def test_deactivate_a_device_and_bring_it_back(app, world, hub):
    token = hub.services.directory.rotate_device_token(None, world["loa"])["token"]
    auth = {"Authorization": f"Bearer {token}"}
    with signed_in(app, "vanhanh-b") as other:
        page = other.get("/console/devices")
        assert f"/console/devices/{world['loa']}" not in page.text
        assert other.post(f"/console/devices/{world['loa']}/active",
                          data={"csrf_token": csrf(page.text), "active": "false"}).status_code == 404
        assert other.get(f"/console/devices/{world['loa']}/token").status_code == 404
    with signed_in(app, "giamsat") as monitor:
        page = monitor.get("/console/devices")
        assert f"/console/devices/{world['loa']}/active" not in page.text
        assert monitor.post(f"/console/devices/{world['loa']}/active",
                            data={"csrf_token": csrf(page.text), "active": "false"}).status_code == 404
    with signed_in(app, "vanhanh") as c:
        page = c.get("/console/devices")
        r = c.post(f"/console/devices/{world['loa']}/active", data={"csrf_token": csrf(page.text), "active": "false"},
                   follow_redirects=False)
        assert r.status_code == 303
        assert c.get("/api/v1/device/manifest", headers=auth).status_code == 401
        assert "Đã ngừng hoạt động" in c.get("/console/devices").text
        c.post(f"/console/devices/{world['loa']}/active", data={"csrf_token": csrf(page.text), "active": "true"})
        assert c.get("/api/v1/device/manifest", headers=auth).status_code == 200


def test_audit_page_filters_and_labels(app, admin, hub, world):
    page = admin.get("/console/users/" + world["bientap"])
    admin.post(f"/console/users/{world['bientap']}/active", data={"csrf_token": csrf(page.text), "active": "false"})
    r = admin.get("/console/audit")
    assert r.status_code == 200 and "Ngừng hoạt động" in r.text and "quantri" in r.text
    assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d", r.text)
    only = admin.get("/console/audit", params={"action": "deactivate"})
    assert only.text.count('class="record"') == 1
    assert admin.get("/console/audit", params={"actor": "nobody"}).text.count('class="record"') == 0
    assert admin.get("/console/audit", params={"object_type": "commune"}).text.count('class="record"') == 2
    assert admin.get("/console/audit", params={"object_id": world["bientap"]}).text.count('class="record"') == 2
    bad = admin.get("/console/audit", params={"from": "2026-12-05", "to": "2026-12-01"})
    assert bad.status_code == 422 and "Bộ lọc không hợp lệ" in bad.text
    with signed_in(app, "giamsat") as monitor:
        assert monitor.get("/console/audit").status_code == 200


def test_audit_page_is_paginated(admin, hub):
    with hub.store.session() as session:
        for n in range(60):
            session.add(AuditEvent(actor=None, action="custom_thing", object_type="test", object_id=str(n)))
    first = admin.get("/console/audit", params={"action": "custom_thing"})
    assert first.text.count('class="record"') == 50 and "trang 1/2" in first.text
    assert "custom_thing" in first.text  # an action with no Vietnamese name shows as written
    assert 'href="/console/audit?action=custom_thing&amp;page=2"' in first.text
    second = admin.get("/console/audit", params={"action": "custom_thing", "page": "2"})
    assert second.text.count('class="record"') == 10 and ">0<" in second.text.replace("<code>", ">").replace("</code>", "<")


def test_admin_js_is_served(client):
    r = client.get("/console/static/admin.js")
    assert r.status_code == 200 and "clipboard" in r.text


# --- in Chromium -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from hub.config import Settings
    from hub.store import migrate
    from hub.testing import LiveServer

    data = tmp_path_factory.mktemp("admin-browser") / "var"
    data.mkdir()
    migrate(f"sqlite:///{data / 'hub.db'}")
    settings = Settings(data_dir=data, workers=0, tts_engines=["espeak"])
    app = create_app(settings, pm=make_plugin_manager(settings))
    with LiveServer(app) as server:
        d = app.state.hub.services.directory
        d.add_commune(None, "LSN-CL", "Xã Cao Lộc")
        d.add_commune(None, "LSN-LVT", "Phường Lương Văn Tri")
        d.add_user(None, "quantri", "admin", password=PASSWORD)
        d.add_user(None, "giamsat", "monitor", password=PASSWORD)
        d.add_user(None, "vanhanh-cl", "operator", "LSN-CL", password=PASSWORD)
        d.register_device(None, "Cụm loa thôn Nà Cạn", "LSN-CL")
        d.register_device(None, "Bảng tin UBND phường", "LSN-LVT", "display")
        yield server


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_every_admin_page_in_chromium(live, size):
    from playwright import sync_api

    from tests.plugins.console_browser import SIZES, launch, look, sign_in

    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport=SIZES[size])
            sign_in(page, live.url, "quantri", PASSWORD)
            page.goto(live.url + "/console/users")
            look(page, "admin-users")
            page.click("text=Thêm người dùng >> nth=-1")
            look(page, "admin-user-new")
            name = f"bientap-{size}"
            page.fill("#name", name)
            page.select_option("#role", "editor")
            page.fill("#password", "mat-khau-ban-dau")
            page.fill("#password_again", "mat-khau-ban-dau")
            page.click("main button[type=submit]")
            assert "hubu_" in page.inner_text("main")
            look(page, "admin-user-created")
            page.click("text=Tôi đã lưu mã, tiếp tục")
            look(page, "admin-user")
            page.fill("#password", "mat-khau-moi-123")
            page.fill("#password_again", "mat-khau-moi-123")
            page.click("text=Đặt mật khẩu mới")
            assert "Đã đặt mật khẩu mới" in page.inner_text("main")
            page.goto(live.url + "/console/communes")
            look(page, "admin-communes")
            page.goto(live.url + "/console/communes/new")
            look(page, "admin-commune-new")
            page.goto(live.url + "/console/communes/LSN-CL")
            look(page, "admin-commune-edit")
            page.goto(live.url + "/console/devices")
            look(page, "admin-devices")
            page.click("main a.button")
            look(page, "admin-device-new")
            page.fill("#name", f"Cụm loa chợ ({size})")
            page.select_option("#commune", "LSN-CL")
            page.click("main button[type=submit]")
            text = page.inner_text("main")
            assert "hubd_" in text and "hub agent --server" in text
            qr = page.locator("figure.qr img")
            assert qr.is_visible() and qr.evaluate("img => img.naturalWidth") > 0
            assert page.locator("button.copy").first.is_visible(), "admin.js shows the copy buttons"
            look(page, "admin-device-token")
            page.goto(live.url + "/console/devices")
            page.locator("a:has-text('Cấp mã mới')").first.click()
            look(page, "admin-device-rotate")
            page.goto(live.url + "/console/audit")
            look(page, "admin-audit")
            page.goto(live.url + "/console/audit?action=create&object_type=device")
            look(page, "admin-audit-filtered")
            page.close()
        finally:
            browser.close()


def test_the_new_user_form_starts_on_the_least_powerful_role(admin):
    page = admin.get("/console/users/new").text
    options = re.findall(r'<option value="(operator|monitor|editor|admin)"( selected)?', page)
    assert [name for name, _ in options] == ["operator", "monitor", "editor", "admin"]
    assert options[0][1] == " selected" and not any(selected for _, selected in options[1:])
