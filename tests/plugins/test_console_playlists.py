"""The console's schedule and playlist pages (/console/playlists, /new, /{id}): the timeline is the
scheduler's (PlaylistService.timeline), the form's warnings are the API's (PlaylistService.check)
and come before saving; operators see only their commune, monitors only read; bad input is a
Vietnamese error with nothing saved. One Chromium test at the end (phone and desktop)."""

from __future__ import annotations

import html
import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hub.app import create_app
from hub.bulletins import Content
from hub.clock import LOCAL_TZ, local_today
from hub.models import Playlist
from hub.playlists import PlaylistIn
from hub.plugins import make_plugin_manager
from hub.services.devices import Play
from hub.testing import QuickMedia
from tests.plugins.console_client import PASSWORD, csrf, signed_in


@pytest.fixture
def app(settings):
    local = settings.model_copy(update={"disabled_plugins": ["speech", "slides"]})
    pm = make_plugin_manager(local)
    pm.register(QuickMedia(), name="quick-media")
    return create_app(local, pm=pm)


@pytest.fixture
def world(app):
    with TestClient(app):
        hub = app.state.hub
        d = hub.services.directory
        d.add_commune(None, "A", "Xã Ái")
        d.add_commune(None, "B", "Xã Bé")
        people = {}
        for name, role, commune in (("bientap", "editor", None), ("bientap2", "editor", None),
                                    ("giamsat", "monitor", None), ("vanhanh", "operator", "A"),
                                    ("vanhanh-b", "operator", "B")):
            d.add_user(None, name, role, commune, password=PASSWORD)
            people[name] = hub.services.sessions.sign_in(name, PASSWORD, ip=None, user_agent=None)[1]
        speaker = d.register_device(None, "Loa thôn Một", "A")
        bulletins = {title: approved(hub, people, title, targets) for title, targets in (
            ("Lịch tiêm chủng tháng 12", ["A"]), ("Thu gom rác thải", ["*"]), ("Họp dân xóm Bé", ["B"]))}
        yield {"hub": hub, "people": people, "bulletins": bulletins, "speaker": speaker}


def approved(hub, people, title, targets):
    s = hub.services.bulletins
    view, _ = s.create(people["bientap"], Content(title=title, body=f"Nội dung {title}.", priority="normal",
                                                  channels=["speaker"], targets=targets))
    s.submit(people["bientap"], view["id"])
    bid = s.approve(people["bientap2"], view["id"])["id"]
    while hub.pipeline.run_one():
        pass
    return bid


def make(hub, people, bids, name, times=("06:00",), commune="A", priority=0):
    data = PlaylistIn.model_validate({"name": name, "commune": commune, "priority": priority,
                                      "items": [{"bulletin_id": b} for b in bids],
                                      "schedule": {"times": list(times), "start_date": local_today().isoformat()}})
    return hub.services.playlists.create(people["vanhanh" if commune == "A" else "vanhanh-b"], data)["id"]


def count(hub) -> int:
    with hub.store.reader() as session:
        return session.scalar(select(func.count()).select_from(Playlist))


def form(page: str, **fields) -> dict:
    """A form post for the playlist form: its hidden fields (csrf, items, commune) plus ``fields``."""
    data = {"csrf_token": csrf(page), "name": "Bản tin tối", "times": "20:00",
            "start_date": local_today().isoformat(), "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "enabled": "true", "priority": "0"}
    data["items"] = re.findall(r'name="items" value="([^"]+)"', page)
    data.update(fields)
    return data


# --- the timeline ----------------------------------------------------------------------------------


def test_operator_sees_the_scheduled_week_with_a_delay_and_its_reason(app, world):
    hub, people, b = world["hub"], world["people"], world["bulletins"]
    make(hub, people, [b["Lịch tiêm chủng tháng 12"], b["Thu gom rác thải"]], "Bản tin sáng", priority=10)
    make(hub, people, [b["Thu gom rác thải"]], "Bản tin phụ")
    with signed_in(app, "vanhanh") as c:
        page = c.get("/console/playlists")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "Lịch phát – Xã Ái" in text and "Loa thôn Một" in text
    # two programmes a day for seven days; today's 06:00 only if the bulletins were approved before it
    aired_today = datetime.now(LOCAL_TZ).time() < datetime.strptime("06:00", "%H:%M").time()
    assert text.count('data-playlist="') == (14 if aired_today else 12)
    assert "06:00 · Lịch tiêm chủng tháng 12 · 2 giây" in text
    assert 'Phát muộn 4 giây so với giờ đặt 06:00:' in text and '"Bản tin sáng" đang phát' in text
    # the scheduler's warning, in Vietnamese
    assert '"Bản tin sáng" và "Bản tin phụ" trùng giờ' in text
    assert "Tạo danh sách phát mới" in text
    assert "Họp dân xóm Bé" not in text


def test_what_played_today_is_shown_beside_the_schedule(app, world):
    hub, people, b = world["hub"], world["people"], world["bulletins"]
    soon = datetime.now(LOCAL_TZ) + timedelta(minutes=3)
    if soon.date() != local_today():
        pytest.skip("too close to midnight for a programme later today")
    make(hub, people, [b["Thu gom rác thải"]], "Sắp phát", times=(soon.strftime("%H:%M"),))
    today = local_today()
    view = hub.services.playlists.timeline(people["vanhanh"], "A", today, 1)
    scheduled = view["programmes"][0]["plays"][0]
    from hub.auth import Principal
    device = Principal(world["speaker"]["id"], "Loa thôn Một", "device", "A", "speaker")
    started = scheduled["starts_at"]
    hub.services.devices.record_plays(device, [Play(str(uuid.uuid4()), scheduled["id"], scheduled["bulletin_id"],
                                                    started, started + timedelta(seconds=2), "played")])
    with signed_in(app, "vanhanh") as c:
        text = c.get("/console/playlists").text
    item = text.split(f'data-item="{scheduled["id"]}"', 1)[1].split("</li>", 1)[0]
    assert "Đã phát:" in item and "Loa thôn Một (trọn vẹn)" in item


def test_who_may_see_what(app, world):
    hub, people, b = world["hub"], world["people"], world["bulletins"]
    pid = make(hub, people, [b["Lịch tiêm chủng tháng 12"]], "Bản tin sáng")
    pid_b = make(hub, people, [b["Họp dân xóm Bé"]], "Bản tin xóm", commune="B")
    with signed_in(app, "vanhanh-b") as c:
        assert c.get("/console/playlists?commune=A").status_code == 404
        assert c.get(f"/console/playlists/{pid}").status_code == 404
        assert c.get("/console/playlists/new?commune=A").status_code == 200  # their own commune's form
        page = c.get(f"/console/playlists/{pid_b}")
        before = count(hub)
        r = c.post(f"/console/playlists/{pid}", data=form(page.text, action="save"))
        assert r.status_code == 404 and count(hub) == before
        assert "Bản tin sáng" not in c.get("/console/playlists").text
    with signed_in(app, "giamsat") as c:
        page = c.get("/console/playlists?commune=A")
        assert page.status_code == 200 and "Tạo danh sách phát mới" not in page.text
        assert c.get("/console/playlists?commune=B").status_code == 200
        assert c.get("/console/playlists?commune=ZZ").status_code == 404
        assert c.get("/console/playlists/new?commune=A").status_code == 404
        show = c.get(f"/console/playlists/{pid}")
        assert show.status_code == 200 and "Bạn chỉ được xem" in show.text and "<form method=\"post\" action=\"/console/playlists" not in show.text
        r = c.post("/console/playlists/new", data=form(show.text, commune="A", action="save",
                                                        items=[b["Thu gom rác thải"]]))
        assert r.status_code == 404 and count(hub) == 2
    with signed_in(app, "bientap") as c:
        assert c.get("/console/playlists?commune=B").status_code == 200
        assert 'name="name"' in c.get(f"/console/playlists/{pid}").text  # editors may edit
    anonymous = TestClient(app)
    assert anonymous.get("/console/playlists", follow_redirects=False).status_code == 303


# --- the form ----------------------------------------------------------------------------------------


def test_build_a_playlist_with_buttons_and_save(app, world):
    hub, b = world["hub"], world["bulletins"]
    one, two = b["Lịch tiêm chủng tháng 12"], b["Thu gom rác thải"]
    with signed_in(app, "vanhanh") as c:
        page = c.get("/console/playlists/new")
        assert page.status_code == 200
        assert "Họp dân xóm Bé" not in page.text  # not for this commune
        assert page.text.count("<audio controls") == 2
        page = c.post("/console/playlists/new", data=form(page.text, action=f"add:{one}"))
        page = c.post("/console/playlists/new", data=form(page.text, action=f"add:{two}"))
        assert re.findall(r'name="items" value="([^"]+)"', page.text) == [one, two]
        page = c.post("/console/playlists/new", data=form(page.text, action="up:1"))
        assert re.findall(r'name="items" value="([^"]+)"', page.text) == [two, one]
        page = c.post("/console/playlists/new", data=form(page.text, action="search", q="rác"))
        offered = page.text.split('class="records offered"', 1)[1]
        assert "Thu gom rác thải" in offered and "Lịch tiêm chủng" not in offered
        page = c.post("/console/playlists/new", data=form(page.text, action="remove:1"))
        assert re.findall(r'name="items" value="([^"]+)"', page.text) == [two]
        assert count(hub) == 0
        r = c.post("/console/playlists/new", data=form(page.text, action="save", exceptions="06/02/2027",
                                                       end_date=(local_today() + timedelta(days=30)).isoformat()),
                   follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/playlists?commune=A&done=saved")
        [saved] = hub.services.playlists.listing(world["people"]["vanhanh"], "A")
        assert saved["items"] == [{"bulletin_id": two}] and saved["schedule"]["times"] == ["20:00"]
        assert saved["schedule"]["exceptions"] == ["2027-02-06"]
        page = c.get(f"/console/playlists/{saved['id']}")
        assert 'value="Bản tin tối"' in page.text and "2027-02-06" in page.text
        r = c.post(f"/console/playlists/{saved['id']}", data=form(page.text, action="save", name="Bản tin đêm"),
                   follow_redirects=False)
        assert r.status_code == 303
        assert hub.services.playlists.get(world["people"]["vanhanh"], saved["id"])["name"] == "Bản tin đêm"
        assert "Bản tin đêm" in c.get("/console/playlists?done=saved").text


def test_conflict_warning_is_shown_before_saving(app, world):
    hub, people, b = world["hub"], world["people"], world["bulletins"]
    make(hub, people, [b["Lịch tiêm chủng tháng 12"]], "Bản tin sáng", priority=10)
    with signed_in(app, "vanhanh") as c:
        page = c.get("/console/playlists/new")
        page = c.post("/console/playlists/new", data=form(page.text, action=f"add:{b['Thu gom rác thải']}"))
        fields = form(page.text, name="Bản tin thêm", times="06:00")
        checked = c.post("/console/playlists/new", data={**fields, "action": "check"})
        assert checked.status_code == 200 and "Có danh sách phát trùng giờ" in checked.text
        assert '"Bản tin sáng" và "Bản tin thêm" trùng giờ' in html.unescape(checked.text) and count(hub) == 1
        first = c.post("/console/playlists/new", data={**fields, "action": "save"})
        assert first.status_code == 200 and "Vẫn lưu dù trùng giờ" in first.text and count(hub) == 1
        seen = re.search(r'name="warnings_seen" value="([^"]+)"', first.text).group(1)
        r = c.post("/console/playlists/new", data={**fields, "action": "save", "warnings_seen": seen},
                   follow_redirects=False)
        assert r.status_code == 303, html.unescape(r.text)[-2500:]
        assert count(hub) == 2
        # a different time: no warning, and the check says so
        page = c.get("/console/playlists/new")
        page = c.post("/console/playlists/new", data=form(page.text, action=f"add:{b['Thu gom rác thải']}"))
        ok = c.post("/console/playlists/new", data=form(page.text, action="check", times="21:00"))
        assert "Không trùng giờ" in ok.text and count(hub) == 2


@pytest.mark.parametrize("fields, message", [
    ({"name": ""}, "Hãy đặt tên cho danh sách phát."),
    ({"items": []}, "Hãy chọn ít nhất một tin để phát."),
    ({"days": []}, "Hãy chọn ít nhất một ngày trong tuần."),
    ({"times": "6h sáng"}, "Giờ phát phải viết dạng giờ:phút"),
    ({"times": "06:00, 06:00"}, "Mỗi giờ phát chỉ được nhập một lần."),
    ({"times": ""}, "Hãy nhập ít nhất một giờ phát"),
    ({"start_date": "hôm qua"}, "Hãy chọn ngày bắt đầu hợp lệ."),
    ({"end_date": "2000-01-01"}, "Ngày kết thúc không được trước ngày bắt đầu."),
    ({"exceptions": "Tết"}, "Ngày nghỉ &#34;Tết&#34; không hợp lệ"),
    ({"priority": "999"}, "Độ ưu tiên là một số từ 0 đến 100."),
    ({"items": ["x" * 24]}, "Tin thứ 1 chưa được duyệt hoặc không dành cho xã này"),
])
def test_bad_input_is_a_vietnamese_error_and_nothing_is_saved(app, world, fields, message):
    hub, b = world["hub"], world["bulletins"]
    with signed_in(app, "vanhanh") as c:
        page = c.get("/console/playlists/new")
        page = c.post("/console/playlists/new", data=form(page.text, action=f"add:{b['Thu gom rác thải']}"))
        r = c.post("/console/playlists/new", data={**form(page.text, action="save"), **fields})
        assert r.status_code == 422 and "Chưa lưu được, hãy sửa:" in r.text and message in r.text, r.text[-3000:]
        assert count(hub) == 0


def test_item_of_another_commune_is_refused(app, world):
    hub, b = world["hub"], world["bulletins"]
    with signed_in(app, "vanhanh") as c:
        page = c.get("/console/playlists/new")
        r = c.post("/console/playlists/new", data=form(page.text, action="save", items=[b["Họp dân xóm Bé"]]))
        assert r.status_code == 422 and "Tin thứ 1" in r.text and count(hub) == 0
        # an operator cannot post for another commune: the commune field is theirs whatever is sent
        r = c.post("/console/playlists/new", data=form(page.text, action="save", commune="B",
                                                       items=[b["Thu gom rác thải"]]), follow_redirects=False)
        assert r.status_code == 303
        [saved] = hub.services.playlists.listing(world["people"]["bientap"], None)
        assert saved["commune"] == "A"


def test_without_csrf_nothing_is_saved(app, world):
    hub, b = world["hub"], world["bulletins"]
    with signed_in(app, "vanhanh") as c:
        page = c.get("/console/playlists/new")
        data = form(page.text, action="save", items=[b["Thu gom rác thải"]])
        del data["csrf_token"]
        assert c.post("/console/playlists/new", data=data).status_code == 403
        assert c.post("/console/playlists/new", data={**data, "csrf_token": "x"}).status_code == 403
        assert count(hub) == 0


def test_file_made_playlist_is_read_only_with_its_file(app, world, tmp_path):
    hub, people, b = world["hub"], world["people"], world["bulletins"]
    folder = tmp_path / "playlists"
    folder.mkdir()
    path = folder / "ai-sang.yaml"
    path.write_text(f"name: Bản tin từ tệp\ncommune: A\nitems:\n  - bulletin_id: {b['Thu gom rác thải']}\n"
                    f"schedule:\n  times: ['05:30']\n  start_date: {local_today().isoformat()}\n", encoding="utf-8")
    report = hub.services.playlists.sync(folder)
    assert report.created == ["ai-sang.yaml"]
    [pid] = [p["id"] for p in hub.services.playlists.listing(people["vanhanh"], "A")]
    with signed_in(app, "vanhanh") as c:
        page = c.get(f"/console/playlists/{pid}")
        assert page.status_code == 200 and str(path.resolve()) in page.text and 'name="name"' not in page.text
        assert "Danh sách này lấy từ tệp cấu hình" in page.text and "<audio controls" in page.text
        index = c.get("/console/playlists").text
        assert str(path.resolve()) in index
        r = c.post(f"/console/playlists/{pid}", data=form(index, action="save", name="Đổi tên",
                                                          items=[b["Thu gom rác thải"]]))
        assert r.status_code == 200 and "Danh sách này lấy từ tệp cấu hình" in r.text
        r = c.post(f"/console/playlists/{pid}/delete", data={"csrf_token": csrf(index), "confirm": "yes"})
        assert r.status_code == 404
    assert hub.services.playlists.get(people["vanhanh"], pid)["name"] == "Bản tin từ tệp"


def test_playlist_form_js_is_served(app, world):
    with signed_in(app, "vanhanh") as c:
        assert '<script src="/console/static/playlist-form.js">' in c.get("/console/playlists/new").text
        r = c.get("/console/static/playlist-form.js")
        assert r.status_code == 200 and "normalize(\"NFD\")" in r.text


def test_delete_needs_the_confirmation_and_the_right_to_write(app, world, tmp_path):
    hub, people, b = world["hub"], world["people"], world["bulletins"]
    pid = make(hub, people, [b["Thu gom rác thải"]], "Bản tin sáng")
    for name in ("vanhanh-b", "giamsat"):
        with signed_in(app, name) as c:
            home = c.get("/console")
            r = c.post(f"/console/playlists/{pid}/delete", data={"csrf_token": csrf(home.text), "confirm": "yes"})
            assert r.status_code == 404 and count(hub) == 1
    with signed_in(app, "vanhanh") as c:
        page = c.get(f"/console/playlists/{pid}")
        assert "Xóa danh sách phát" in page.text
        assert c.post(f"/console/playlists/{pid}/delete", data={"confirm": "yes"}).status_code == 403
        r = c.post(f"/console/playlists/{pid}/delete", data={"csrf_token": csrf(page.text)})
        assert r.status_code == 422 and "Hãy đánh dấu ô xác nhận" in r.text and count(hub) == 1
        r = c.post(f"/console/playlists/{pid}/delete", data={"csrf_token": csrf(page.text), "confirm": "yes"},
                   follow_redirects=False)
        assert r.status_code == 303 and count(hub) == 0
        assert "Đã xóa danh sách phát." in c.get(r.headers["location"]).text


def test_bad_from_date_shows_today(app, world):
    with signed_in(app, "vanhanh") as c:
        page = c.get("/console/playlists?from=hôm-qua")
        assert page.status_code == 200 and "Ngày không hợp lệ" in page.text
        assert c.get("/console/playlists?from=2026-01-01").status_code == 200


# --- in Chromium -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from hub.config import Settings
    from hub.store import migrate
    from hub.testing import LiveServer

    data = tmp_path_factory.mktemp("playlists-browser") / "var"
    data.mkdir()
    migrate(f"sqlite:///{data / 'hub.db'}")
    settings = Settings(data_dir=data, workers=0, tts_engines=["espeak"], disabled_plugins=["speech", "slides"])
    pm = make_plugin_manager(settings)
    pm.register(QuickMedia(), name="quick-media")
    app = create_app(settings, pm=pm)
    with LiveServer(app) as server:
        hub = app.state.hub
        d = hub.services.directory
        d.add_commune(None, "LSN-CL", "Xã Cao Lộc")
        people = {}
        for name, role, commune in (("bientap", "editor", None), ("bientap2", "editor", None),
                                    ("vanhanh-cl", "operator", "LSN-CL")):
            d.add_user(None, name, role, commune, password=PASSWORD)
            people[name] = hub.services.sessions.sign_in(name, PASSWORD, ip=None, user_agent=None)[1]
        d.register_device(None, "Cụm loa thôn Nà Cạn", "LSN-CL")
        for title in ("Lịch tiêm chủng tháng 12", "Thu gom rác thải cuối tuần", "Phòng chống rét cho gia súc"):
            approved(hub, people, title, ["LSN-CL"])
        server.hub, server.people = hub, people
        yield server


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_operator_builds_a_playlist_in_chromium(live, size, monkeypatch):
    from playwright import sync_api

    from tests.plugins.console_browser import SIZES, launch, look, sign_in

    monkeypatch.setenv("HUB_TEST_SCREENSHOTS", "/tmp/shots/playlists")
    soon = datetime.now(LOCAL_TZ) + timedelta(minutes=2)
    if soon.date() != local_today():
        pytest.skip("too close to midnight for a programme in two minutes today")
    at = soon.strftime("%H:%M")
    hub, people = live.hub, live.people
    rubbish = next(b["id"] for b in hub.services.bulletins.listing(people["bientap"], status="approved")[0]
                   if b["title"].startswith("Thu gom"))
    other = PlaylistIn.model_validate({"name": f"Thông báo của xã ({size})", "commune": "LSN-CL", "priority": 5,
                                       "items": [{"bulletin_id": rubbish}],
                                       "schedule": {"times": [at], "start_date": local_today().isoformat()}})
    hub.services.playlists.create(people["vanhanh-cl"], other)
    name = f"Bản tin trưa ({size})"
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport=SIZES[size])
            sign_in(page, live.url, "vanhanh-cl", PASSWORD)
            page.goto(live.url + "/console/playlists")
            look(page, "playlists-timeline-before")
            page.click("main a.button")
            page.fill("#name", name)
            page.click("button[aria-label='Thêm \"Lịch tiêm chủng tháng 12\"']")
            page.fill("#q", "ret")  # playlist-form.js narrows the list as one types, accents ignored
            assert page.locator("ul.offered li.record:visible").count() == 1
            page.fill("#q", "rét")
            page.press("#q", "Enter")  # and Enter searches on the server
            page.wait_for_load_state()
            assert page.locator("ul.offered li.record").count() == 1 and page.input_value("#name") == name
            page.click("button[aria-label='Thêm \"Phòng chống rét cho gia súc\"']")
            picked = page.locator("ol.picked li.record")
            assert picked.count() == 2 and "Lịch tiêm chủng" in picked.first.inner_text()
            page.click("button[aria-label='Chuyển \"Phòng chống rét cho gia súc\" lên trên']")
            assert "Phòng chống rét" in page.locator("ol.picked li.record").first.inner_text()
            assert page.locator("ol.picked audio").count() == 2
            look(page, "playlists-form")
            page.fill("#times", at)
            page.click("button[value=save]")
            warning = page.locator("#warnings")
            assert "trùng giờ" in warning.inner_text() and f"Thông báo của xã ({size})" in warning.inner_text()
            assert name not in [p["name"] for p in hub.services.playlists.listing(people["vanhanh-cl"], "LSN-CL")]
            look(page, "playlists-form-warning")
            page.click("button[value=save]:has-text('Vẫn lưu dù trùng giờ')")
            page.wait_for_load_state()
            assert "done=saved" in page.url
            today = page.locator(f"#timeline li.record:has-text('{name}')").first
            assert today.is_visible() and "Phòng chống rét cho gia súc" in today.inner_text()
            assert "Phát muộn" in today.inner_text(), "the lower priority runs after the other programme"
            look(page, "playlists-timeline-saved")
            page.click(f"#timeline a:has-text('{name}') >> nth=0")
            assert page.input_value("#name") == name
            look(page, "playlists-edit")
            page.close()
        finally:
            browser.close()
