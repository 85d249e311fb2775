"""Every role against every bulletin and directory endpoint: the expected status of each cell.

Every object a cell touches lives in commune C1. ``operator`` is C1's operator; ``op_elsewhere`` is
C2's, for whom C1's bulletins do not exist (404). Each cell makes its own bulletin in the state it
needs (and its own commune code), so no cell depends on another; the app and the users are shared
by the whole module only to keep the 91 cells fast.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hub.app import create_app
from hub.config import Settings
from hub.models import AuditEvent
from tests.api.test_media import tiny_plugin_manager
from tests.conftest import People, bulletin_payload

ROLES = ("admin", "editor", "operator", "op_elsewhere", "monitor", "device", "none")

EXPECTED_TABLE = """
endpoint         admin editor operator op_elsewhere monitor device none
create            201   201    201       403         403     403   401
list              200   200    200       200         200     403   401
get               200   200    200       404         200     403   401
patch             200   200    403       404         403     403   401
submit            200   200    403       404         403     403   401
approve           200   200    403       404         403     403   401
reject            200   200    403       404         403     403   401
withdraw          200   200    403       404         403     403   401
artifacts         200   200    200       404         200     403   401
plugins           200   200    200       200         200     403   401
devices_create    201   403    201       403         403     403   401
devices_list      200   200    200       200         200     403   401
communes_create   201   403    403       403         403     403   401
"""


def _parse(table: str) -> dict[tuple[str, str], int]:
    header, *rows = [line.split() for line in table.strip().splitlines()]
    assert tuple(header[1:]) == ROLES
    return {(row[0], role): int(code) for row in rows for role, code in zip(ROLES, row[1:], strict=True)}


EXPECTED = _parse(EXPECTED_TABLE)
ENDPOINTS = list(dict.fromkeys(endpoint for endpoint, _role in EXPECTED))
#: Endpoints that write: a refusal must leave no audit event, a success must leave one.
WRITES = {"create", "patch", "submit", "approve", "reject", "withdraw", "devices_create", "communes_create"}
_serial = itertools.count()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("matrix") / "var", workers=0)
    with TestClient(create_app(settings, pm=tiny_plugin_manager(settings))) as client:
        people = People(client.app.state.hub)
        people.commune("C1")
        people.commune("C2")
        headers = {
            "admin": people.user("admin", "admin"),
            "editor": people.user("editor", "editor"),
            "operator": people.user("operator", "operator", "C1"),
            "op_elsewhere": people.user("op_elsewhere", "operator", "C2"),
            "monitor": people.user("monitor", "monitor"),
            "device": people.device("loa-c1", "C1"),
            "none": {},
        }
        # Neither is a column: the author writes each cell's bulletin, the second editor approves it.
        author = people.user("author", "editor")
        second = people.user("second", "editor")
        yield SimpleNamespace(client=client, hub=client.app.state.hub, headers=headers, author=author,
                              second=second)


def fresh_bulletin(world, status: str) -> str:
    client = world.client
    r = client.post("/api/v1/bulletins", json=bulletin_payload(targets=["C1"]), headers=world.author)
    assert r.status_code == 201, r.text
    bid = r.json()["id"]
    steps = {"draft": [], "pending": ["submit"], "approved": ["submit", "approve"]}[status]
    for step in steps:
        who = world.author if step == "submit" else world.second
        assert client.post(f"/api/v1/bulletins/{bid}/{step}", headers=who).status_code == 200
    return bid


def request_for(world, endpoint: str) -> tuple[str, str, dict | None, str | None]:
    """(method, url, json body, bulletin id or None) with fresh state for one cell."""
    n = next(_serial)
    bulletin_state = {"get": "draft", "patch": "draft", "submit": "draft", "approve": "pending",
                      "reject": "pending", "withdraw": "approved", "artifacts": "approved"}
    bid = fresh_bulletin(world, bulletin_state[endpoint]) if endpoint in bulletin_state else None
    base = f"/api/v1/bulletins/{bid}"
    return {
        "create": ("POST", "/api/v1/bulletins", bulletin_payload(targets=["C1"]), None),
        "list": ("GET", "/api/v1/bulletins", None, None),
        "get": ("GET", base, None, bid),
        "patch": ("PATCH", base, {"title": f"Tiêu đề đã sửa {n}"}, bid),
        "submit": ("POST", f"{base}/submit", None, bid),
        "approve": ("POST", f"{base}/approve", None, bid),
        "reject": ("POST", f"{base}/reject", {"reason": "Chưa đủ thông tin"}, bid),
        "withdraw": ("POST", f"{base}/withdraw", None, bid),
        "artifacts": ("GET", f"{base}/artifacts", None, bid),
        "plugins": ("GET", "/api/v1/plugins", None, None),
        "devices_create": ("POST", "/api/v1/devices", {"name": f"loa-{n}", "commune": "C1", "kind": "speaker"},
                           None),
        "devices_list": ("GET", "/api/v1/devices", None, None),
        "communes_create": ("POST", "/api/v1/communes", {"code": f"X{n}", "name": f"Xã mới {n}"}, None),
    }[endpoint]


def audit_count(world) -> int:
    with world.hub.store.reader() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent))


def status_of(world, bid: str) -> tuple[str, int]:
    b = world.client.get(f"/api/v1/bulletins/{bid}", headers=world.headers["admin"]).json()
    return b["status"], b["revision"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_cell(world, endpoint, role):
    method, url, body, bid = request_for(world, endpoint)
    before_audit = audit_count(world)
    before_state = status_of(world, bid) if bid else None

    r = world.client.request(method, url, json=body, headers=world.headers[role])

    expected = EXPECTED[(endpoint, role)]
    assert r.status_code == expected, f"{role} {method} {url}: {r.status_code} {r.text}"
    if expected >= 400:
        assert r.json()["detail"]
        if bid:
            assert status_of(world, bid) == before_state
    if endpoint in WRITES:
        assert audit_count(world) == before_audit + (1 if expected < 400 else 0)


def test_operators_list_only_their_own_communes_devices(world):
    client, headers = world.client, world.headers
    assert client.post("/api/v1/devices", json={"name": "bảng-c2", "commune": "C2", "kind": "display"},
                       headers=headers["admin"]).status_code == 201
    communes = {d["commune"] for d in client.get("/api/v1/devices", headers=headers["operator"]).json()}
    assert communes == {"C1"}
    everywhere = {d["commune"] for d in client.get("/api/v1/devices", headers=headers["monitor"]).json()}
    assert everywhere == {"C1", "C2"}
    # A registered device's token is shown once and works at once.
    r = client.post("/api/v1/devices", json={"name": "loa-moi", "commune": "C1"}, headers=headers["operator"])
    assert r.status_code == 201 and r.json()["token"]
    token = {"Authorization": f"Bearer {r.json()['token']}"}
    assert client.get("/api/v1/bulletins", headers=token).status_code == 403  # a device, not a user


def test_plugins_listing_shape(world):
    r = world.client.get("/api/v1/plugins", headers=world.headers["monitor"])
    assert r.status_code == 200
    [plugin] = [p for p in r.json() if p["name"] == "tiny-audio"]
    assert set(plugin) >= {"name", "version", "hooks"}
    assert plugin["hooks"] == ["hub_register_renderers"]
