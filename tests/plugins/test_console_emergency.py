"""The console's emergency page ("Phát khẩn cấp"): TestClient per role, CSRF, bad input (422,
nothing created); then one Chromium test of the whole emergency path to a real agent's player."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hub.models import Bulletin

PASSWORD = "mật-khẩu-đủ-dài"


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def signed_in(app, name: str) -> TestClient:
    client = TestClient(app)
    form = client.get("/login")
    r = client.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": csrf(form.text)},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


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
        bulletin_id = r.headers["location"].rsplit("/", 1)[1]
    view = hub.services.bulletins.find(bulletin_id)
    assert view["status"] == "pending" and view["priority"] == "emergency"
    assert sorted(view["channels"]) == ["display", "speaker", "web"] and sorted(view["targets"]) == ["A", "B"]
    assert view["valid_from"] is not None and view["title"] == "Bão số 9"


def test_whole_province(app, hub, world):
    with signed_in(app, "bientap") as c:
        r = c.post("/console/emergency", data=form(csrf(c.get("/console/emergency").text), targets=["*", "A"]),
                   follow_redirects=False)
        assert r.status_code == 303
    assert hub.services.bulletins.find(r.headers["location"].rsplit("/", 1)[1])["targets"] == ["*"]


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
