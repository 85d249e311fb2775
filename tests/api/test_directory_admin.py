"""Administration through the API: users (list, add, role, commune, deactivate, password), communes
(edit), devices (deactivate, rotate a token) and the audit log — the same services as the console."""

from __future__ import annotations

from sqlalchemy import select

from hub.models import AuditEvent, ConsoleSession

PASSWORD = "mật-khẩu-đủ-dài"


def _actions(hub, object_id):
    with hub.store.reader() as session:
        return [e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.object_id == object_id)
                                                  .order_by(AuditEvent.id))]


def test_users_are_listed_added_and_changed_by_admins_only(client, people, hub):
    people.commune("A")
    admin = people.user("quantri", "admin")
    editor = people.user("bientap", "editor")
    assert client.get("/api/v1/users", headers=editor).status_code == 403
    r = client.post("/api/v1/users", json={"name": "vanhanh", "role": "operator", "commune": "A",
                                           "password": PASSWORD}, headers=admin)
    assert r.status_code == 201 and r.json()["token"].startswith("hubu_") and r.json()["password_set"]
    uid = r.json()["id"]
    assert client.post("/api/v1/users", json={"name": "x", "role": "operator"}, headers=admin).status_code == 422
    assert client.post("/api/v1/users", json={"name": "vanhanh", "role": "monitor"}, headers=admin).status_code == 409
    listed = {u["name"]: u for u in client.get("/api/v1/users", headers=admin).json()}
    assert listed["vanhanh"]["active"] and listed["vanhanh"]["commune"] == "A"
    assert listed["vanhanh"]["last_sign_in"] is None and listed["bientap"]["password_set"] is False
    # A department role has no commune; going back to operator needs one.
    r = client.patch(f"/api/v1/users/{uid}", json={"role": "monitor"}, headers=admin)
    assert r.status_code == 200 and r.json()["role"] == "monitor" and r.json()["commune"] is None
    assert client.patch(f"/api/v1/users/{uid}", json={"role": "operator"}, headers=admin).status_code == 422
    assert client.patch(f"/api/v1/users/{uid}", json={"role": "operator", "commune": "nowhere"},
                        headers=admin).status_code == 422
    assert client.patch(f"/api/v1/users/{uid}", json={"role": "operator", "commune": "A"},
                        headers=admin).json()["commune"] == "A"
    assert client.patch(f"/api/v1/users/{uid}", json={"active": False}, headers=editor).status_code == 403
    assert client.patch("/api/v1/users/nobody", json={"active": False}, headers=admin).status_code == 404
    assert _actions(hub, uid) == ["create", "update", "update"]


def test_deactivation_ends_sessions_and_stops_the_token_at_once(client, people, hub):
    admin = people.user("quantri", "admin")
    record = hub.services.directory.add_user(None, "bientap", "editor", password=PASSWORD)
    token, _ = hub.services.sessions.sign_in("bientap", PASSWORD, ip=None, user_agent=None)
    mine = {"Authorization": f"Bearer {record['token']}"}
    assert client.get("/api/v1/bulletins", headers=mine).status_code == 200
    r = client.patch(f"/api/v1/users/{record['id']}", json={"active": False}, headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False
    assert hub.services.sessions.principal(token) is None
    with hub.store.reader() as session:
        assert all(row.ended_at is not None for row in session.scalars(select(ConsoleSession)))
    assert client.get("/api/v1/bulletins", headers=mine).status_code == 401
    assert _actions(hub, record["id"])[-1] == "deactivate"
    client.patch(f"/api/v1/users/{record['id']}", json={"active": True}, headers=admin)
    assert client.get("/api/v1/bulletins", headers=mine).status_code == 200
    assert hub.services.sessions.principal(token) is None, "a session ended stays ended"


def test_an_admin_cannot_lock_themselves_out(client, people):
    admin = people.user("quantri", "admin")
    me = people.ids["quantri"]
    assert client.patch(f"/api/v1/users/{me}", json={"active": False}, headers=admin).status_code == 422
    assert client.patch(f"/api/v1/users/{me}", json={"role": "editor"}, headers=admin).status_code == 422


def test_password_reset_ends_the_users_sessions(client, people, hub):
    admin = people.user("quantri", "admin")
    record = hub.services.directory.add_user(None, "bientap", "editor", password=PASSWORD)
    token, _ = hub.services.sessions.sign_in("bientap", PASSWORD, ip=None, user_agent=None)
    url = f"/api/v1/users/{record['id']}/password"
    assert client.post(url, json={"password": "short"}, headers=admin).status_code == 422
    assert hub.services.sessions.principal(token) is not None
    assert client.post(url, json={"password": "mat-khau-moi-123"}, headers=admin).status_code == 200
    assert hub.services.sessions.principal(token) is None
    hub.services.sessions.sign_in("bientap", "mat-khau-moi-123", ip=None, user_agent=None)
    assert "reset_password" in _actions(hub, record["id"])


def test_communes_are_edited_by_admins(client, people, hub):
    people.commune("A", "Xã A")
    admin = people.user("quantri", "admin")
    editor = people.user("bientap", "editor")
    assert client.patch("/api/v1/communes/A", json={"name": "Xã Mới"}, headers=editor).status_code == 403
    r = client.patch("/api/v1/communes/A", json={"name": "Xã Mới", "voice": "vi-VN-x-south"}, headers=admin)
    assert r.status_code == 200 and r.json() == {"code": "A", "id": "A", "name": "Xã Mới", "voice": "vi-VN-x-south"}
    assert client.patch("/api/v1/communes/A", json={"voice": None}, headers=admin).json()["voice"] is None
    assert client.patch("/api/v1/communes/A", json={"name": ""}, headers=admin).status_code == 422
    assert client.patch("/api/v1/communes/ZZ", json={"name": "x"}, headers=admin).status_code == 404
    assert _actions(hub, "A") == ["create", "update", "update"]


def test_a_rotated_token_is_refused_at_once_and_the_new_one_works(client, people, hub):
    people.commune("A")
    people.commune("B")
    admin = people.user("quantri", "admin")
    operator = people.user("vanhanh", "operator", "A")
    neighbour = people.user("vanhanh-b", "operator", "B")
    old = people.device("loa", "A")
    did = people.ids["loa"]
    assert client.get("/api/v1/device/manifest", headers=old).status_code == 200
    assert client.get("/api/v1/device/manifest", headers=old).status_code == 200  # cached now
    assert client.post(f"/api/v1/devices/{did}/token", headers=neighbour).status_code == 404
    r = client.post(f"/api/v1/devices/{did}/token", headers=operator)
    assert r.status_code == 200 and r.json()["token"].startswith("hubd_")
    assert client.get("/api/v1/device/manifest", headers=old).status_code == 401
    new = {"Authorization": f"Bearer {r.json()['token']}"}
    assert client.get("/api/v1/device/manifest", headers=new).status_code == 200
    assert client.patch(f"/api/v1/devices/{did}", json={"active": False}, headers=admin).json()["active"] is False
    assert client.get("/api/v1/device/manifest", headers=new).status_code == 401
    listed = client.get("/api/v1/devices", headers=admin).json()
    assert listed[0]["active"] is False and listed[0]["online"] is False
    assert _actions(hub, did) == ["create", "rotate_token", "deactivate"] or \
        _actions(hub, did) == ["rotate_token", "deactivate"]


def test_the_audit_log_is_read_by_admins_and_monitors_with_filters(client, people, hub):
    people.commune("A")
    admin = people.user("quantri", "admin")
    monitor = people.user("giamsat", "monitor")
    editor = people.user("bientap", "editor")
    admin_principal = hub.services.directory.authenticate(people.tokens["quantri"])
    hub.services.directory.add_commune(admin_principal, "B", "Xã B")
    hub.services.directory.update_commune(admin_principal, "B", name="Xã Bê")
    assert client.get("/api/v1/audit", headers=editor).status_code == 403
    page = client.get("/api/v1/audit", headers=monitor).json()
    assert page["total"] >= 2 and page["items"][0]["action"] == "update"
    assert page["items"][0]["actor_name"] == "quantri"
    only = client.get("/api/v1/audit", params={"actor": "quantri", "object_type": "commune"}, headers=admin).json()
    assert [e["action"] for e in only["items"]] == ["update", "create"]
    assert client.get("/api/v1/audit", params={"object_id": "B", "limit": 1}, headers=admin).json()["total"] == 2
    assert client.get("/api/v1/audit", params={"from": "2000-01-01", "to": "2000-01-02"},
                      headers=admin).json()["total"] == 0
    assert client.get("/api/v1/audit", params={"from": "hôm qua"}, headers=admin).status_code == 422
    # An offset past any 64-bit integer: a clear 422, not SQLite's overflow as a 500 (issue 14).
    assert client.get("/api/v1/audit", params={"offset": 9223372036854775808}, headers=admin).status_code == 422
    assert client.get("/api/v1/audit", params={"from": "2026-12-03", "to": "2026-12-01"},
                      headers=admin).status_code == 422
