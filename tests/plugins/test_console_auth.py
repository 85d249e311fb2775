"""The console's foundation: sign-in, sessions, CSRF, throttling, headers, the password CLI."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.app import create_app
from hub.cli import main
from hub.models import AuditEvent, ConsoleSession, User
from hub.plugins import make_plugin_manager

PASSWORD = "mật-khẩu-đủ-dài"


@pytest.fixture
def alice(hub):
    return hub.services.directory.add_user(None, "alice", "editor", password=PASSWORD)


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(client, username="alice", password=PASSWORD, **kw):
    form = client.get("/login")
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf(form.text)},
                       follow_redirects=False, **kw)


def test_root_and_console_send_to_login(client):
    assert client.get("/", follow_redirects=False).headers["location"] == "/console"
    r = client.get("/console", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    page = client.get("/login")
    assert 'name="username"' in page.text and 'name="password"' in page.text and "Đăng nhập" in page.text


def test_right_pair_signs_in_with_a_safe_cookie(client, alice):
    r = sign_in(client)
    assert r.status_code == 303 and r.headers["location"] == "/console"
    cookie = [c for c in r.headers.get_list("set-cookie") if c.startswith("hub_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    home = client.get("/console")
    assert home.status_code == 200 and "alice" in home.text and "Biên tập viên" in home.text
    assert "Tin chờ phê duyệt" in home.text  # an editor's home is their tasks; /docs is on an admin's


def test_secure_cookie_behind_https(client, alice):
    client.base_url = "https://testserver"
    r = sign_in(client)
    cookie = [c for c in r.headers.get_list("set-cookie") if c.startswith("hub_session=")][0]
    assert "Secure" in cookie


def test_wrong_pair_says_the_same_for_unknown_user_and_sets_nothing(client, alice):
    wrong = sign_in(client, password="sai-mat-khau")
    unknown = sign_in(client, username="nobody")
    for r in (wrong, unknown):
        assert r.status_code == 200
        assert "Tên đăng nhập hoặc mật khẩu không đúng." in r.text
        assert not any(c.startswith("hub_session=") for c in r.headers.get_list("set-cookie"))
    strip = lambda t: re.sub(r'value="[^"]*"', "", t)  # noqa: E731
    assert strip(wrong.text) == strip(unknown.text)


def test_logout_ends_the_session_on_the_server(client, alice, hub):
    sign_in(client)
    token = client.cookies.get("hub_session")
    home = client.get("/console")
    r = client.post("/logout", data={"csrf_token": csrf(home.text)}, follow_redirects=False)
    assert r.status_code == 303
    assert hub.services.sessions.principal(token) is None
    client.cookies.set("hub_session", token)
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_deactivating_a_user_ends_their_sessions(client, alice, hub):
    sign_in(client)
    assert client.get("/console", follow_redirects=False).status_code == 200
    with hub.store.session() as session:
        session.get(User, alice["id"]).active = False
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_session_survives_a_restart(settings, alice, client):
    sign_in(client)
    token = client.cookies.get("hub_session")
    with TestClient(create_app(settings, pm=make_plugin_manager(settings))) as again:
        again.cookies.set("hub_session", token)
        assert again.get("/console", follow_redirects=False).status_code == 200
    with client.app.state.hub.store.reader() as session:
        ids = list(session.scalars(select(ConsoleSession.id)))
    assert token not in ids and len(ids[0]) == 64


def test_csrf_missing_or_wrong_is_403_and_changes_nothing(client, alice, hub):
    client.get("/login")
    for data in ({"username": "alice", "password": PASSWORD},
                 {"username": "alice", "password": PASSWORD, "csrf_token": "x" * 64}):
        r = client.post("/login", data=data, follow_redirects=False)
        assert r.status_code == 403
        assert not any(c.startswith("hub_session=") for c in r.headers.get_list("set-cookie"))
    sign_in(client)
    token = client.cookies.get("hub_session")
    for data in ({}, {"csrf_token": "wrong"}):
        assert client.post("/logout", data=data, follow_redirects=False).status_code == 403
    assert hub.services.sessions.principal(token) is not None


def test_throttling_after_five_failures(client, alice, hub):
    for _ in range(5):
        assert sign_in(client, password="sai-mat-khau").status_code == 200
    r = sign_in(client)  # even the right password
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "thử lại" in r.text
    with hub.store.reader() as session:
        rows = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "login_throttled")))
    assert rows and rows[0].object_id == "alice"


def test_security_headers_on_every_page(client, alice):
    pages = [client.get("/login"), client.get("/", follow_redirects=False), client.get("/console", follow_redirects=False)]
    sign_in(client)
    pages.append(client.get("/console"))
    pages.append(client.get("/console/static/console.css"))
    for r in pages:
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"


def test_font_is_served_by_the_hub(client):
    r = client.get("/console/static/fonts/NotoSans-Regular.ttf")
    assert r.status_code == 200 and r.headers["content-type"] == "font/ttf"
    assert client.get("/console/static/fonts/..%2Fetc%2Fpasswd").status_code == 404


def test_bearer_tokens_still_work(client, alice):
    assert client.get("/api/v1/bulletins", headers={"Authorization": f"Bearer {alice['token']}"}).status_code == 200


def test_cli_password_stdin_and_set_password(settings, monkeypatch, capsys, client):
    monkeypatch.setenv("HUB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setattr("sys.stdin", io.StringIO("mot-mat-khau-dai\n"))
    assert main(["users", "add", "bob", "--role", "monitor", "--password-stdin"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["name"] == "bob" and out["password_set"] is True
    assert "mot-mat-khau-dai" not in json.dumps(out) and "argon2" not in json.dumps(out)
    assert sign_in(client, "bob", "mot-mat-khau-dai").status_code == 303
    monkeypatch.setattr("sys.stdin", io.StringIO("mat-khau-moi-123\n"))
    assert main(["users", "set-password", "bob"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["name"] == "bob" and "mat-khau-moi" not in json.dumps(out)
    assert client.get("/console", follow_redirects=False).status_code == 303  # a new password ends sessions
    assert sign_in(client, "bob", "mat-khau-moi-123").status_code == 303


def test_sign_in_in_chromium_at_phone_and_desktop_sizes(settings, tmp_path):
    """Real Chromium against a real server; the screenshots are for a person to look at."""
    from playwright import sync_api

    from hub.testing import LiveServer

    app = create_app(settings, pm=make_plugin_manager(settings))
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with LiveServer(app) as server:
        app.state.hub.services.directory.add_user(None, "bientap", "editor", password=PASSWORD)
        with sync_api.sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                  args=["--no-sandbox", "--disable-background-networking"])
            try:
                for name, size in (("phone", {"width": 360, "height": 740}), ("desktop", {"width": 1280, "height": 800})):
                    page = chromium.new_page(viewport=size)
                    page.goto(server.url + "/console")
                    assert page.url.endswith("/login")
                    page.screenshot(path=str(shots / f"login-{name}.png"), full_page=True)
                    page.fill("input[name=username]", "bientap")
                    page.fill("input[name=password]", "sai-mat-khau")
                    page.click("button[type=submit]")
                    assert "không đúng" in page.inner_text("main")
                    page.screenshot(path=str(shots / f"login-error-{name}.png"), full_page=True)
                    page.fill("input[name=password]", PASSWORD)
                    page.click("button[type=submit]")
                    assert page.url.endswith("/console")
                    assert "bientap" in page.inner_text("main")
                    box = page.locator("header button").bounding_box()
                    assert box["height"] >= 44
                    assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]
                    page.screenshot(path=str(shots / f"home-{name}.png"), full_page=True)
                    page.close()
            finally:
                chromium.close()
    print(f"screenshots in {shots}")


def test_a_console_script_may_call_the_api_with_its_csrf_header(client, alice):
    """A console page's script calls the API with the session cookie and the session's CSRF token
    in X-CSRF-Token; the cookie alone (what another site's page could make a browser send) is not
    enough, and a signed-out session is refused."""
    assert sign_in(client).status_code == 303
    token = client.cookies.get("hub_session")
    page = client.get("/console")
    header = csrf(page.text)
    preview = {"text": "Ngày 05/12/2026"}
    assert client.post("/api/v1/speech/preview", json=preview).status_code == 401
    assert client.post("/api/v1/speech/preview", json=preview, headers={"X-CSRF-Token": "x" * 64}).status_code == 401
    ok = client.post("/api/v1/speech/preview", json=preview, headers={"X-CSRF-Token": header})
    assert ok.status_code == 200 and "tháng mười hai" in ok.json()["spoken_text"]
    client.post("/logout", data={"csrf_token": header})
    client.cookies.set("hub_session", token)
    refused = client.post("/api/v1/speech/preview", json=preview, headers={"X-CSRF-Token": header})
    assert refused.status_code == 401 and "sign in again" in refused.json()["detail"]


def test_a_session_keeps_the_idle_limit_it_was_made_with(client, alice, hub):
    assert sign_in(client).status_code == 303
    with hub.store.session() as session:
        row = session.scalars(select(ConsoleSession)).one()
        assert row.idle_s == 30 * 60
        row.idle_s = 60
        row.last_seen_at = row.last_seen_at - timedelta(seconds=61)
    assert client.get("/console", follow_redirects=False).status_code == 303, "idle past its own limit"


def test_unknown_console_addresses_are_the_vietnamese_not_found_page(client, alice):
    # Not signed in: to the sign-in page first, as every console page does.
    r = client.get("/console/khong-co-trang-nay", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    sign_in(client)
    for address in ("/console/khong-co-trang-nay", "/console/account/password", "/console/bulletins/x/y/z"):
        r = client.get(address)
        assert r.status_code == 404, address
        assert r.headers["content-type"].startswith("text/html") and "detail" not in r.text
        assert "Không tìm thấy" in r.text or "không tồn tại" in r.text.lower(), r.text[:300]
