"""PlaylistService.timeline and .check (the console's schedule pages): resolved by the scheduler,
delays with what caused them, warnings before saving with nothing saved."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hub.auth import Principal
from hub.clock import local_today
from hub.errors import Invalid, NotFound
from hub.models import Playlist
from hub.playlists import PlaylistIn


def body(bids, name="Bản tin sáng", commune="A", times=("06:00",), priority=0):
    return PlaylistIn.model_validate({
        "name": name, "commune": commune, "items": [{"bulletin_id": b} for b in bids], "priority": priority,
        "schedule": {"times": list(times), "start_date": local_today().isoformat()}})


def principal(desk, name, role, commune=None):
    desk.people.user(name, role, commune)
    return Principal(desk.people.ids[name], name, role, commune)


def count(desk) -> int:
    with desk.hub.store.reader() as session:
        return session.scalar(select(func.count()).select_from(Playlist))


@pytest.fixture
def setup(desk):
    one, two = desk.approved(title="Tin một", targets=["A"]), desk.approved(title="Tin hai", targets=["*"])
    op = principal(desk, "op-a", "operator", "A")
    return desk, op, one, two


def test_timeline_groups_programmes_and_explains_a_delay(setup):
    desk, op, one, two = setup
    s = desk.hub.services.playlists
    first = s.create(op, body([one, two], "Sáng", priority=10))
    second = s.create(op, body([two], "Chiều"))
    assert second["warnings"], "the API itself warns of the overlap"
    tomorrow = local_today() + timedelta(days=1)
    view = s.timeline(op, "A", tomorrow, 1)
    runs = view["programmes"]
    assert [r["name"] for r in runs] == ["Sáng", "Chiều"]
    high, low = runs
    assert [p["bulletin_id"] for p in high["plays"]] == [one, two] and high["delay_s"] == 0
    assert low["delay_s"] == 4 and low["delayed_by"] == [{"kind": "playlist", "name": "Sáng"}]
    assert low["starts_at"] == high["ends_at"] and low["nominal"] == high["nominal"]
    assert view["bulletins"] == {one: "Tin một", two: "Tin hai"}
    assert view["warnings"] and "Sáng" in view["warnings"][0]
    assert first["id"] != second["id"]
    # seven days: one run each per day
    assert len(s.timeline(op, "A", tomorrow, 7)["programmes"]) == 14


def test_timeline_permissions_and_bounds(setup):
    desk, op, one, _two = setup
    s = desk.hub.services.playlists
    op_b = principal(desk, "op-b", "operator", "B")
    with pytest.raises(NotFound):
        s.timeline(op_b, "A", local_today(), 1)
    with pytest.raises(NotFound):
        s.timeline(op, "NOPE", local_today(), 1)
    with pytest.raises(Invalid):
        s.timeline(op, "A", local_today(), 15)
    monitor = principal(desk, "m", "monitor")
    assert s.timeline(monitor, "A", local_today(), 1)["programmes"] == []


def test_check_warns_before_saving_and_saves_nothing(setup):
    desk, op, one, two = setup
    s = desk.hub.services.playlists
    s.create(op, body([one], "Sáng"))
    before = count(desk)
    warnings = s.check(op, body([two], "Chiều"))
    assert warnings and "Chiều" in warnings[0]
    assert count(desk) == before
    assert s.check(op, body([two], "Tối", times=("20:00",))) == []
    s.create(op, body([two], "Chiều"))  # now "Sáng" and "Chiều" overlap: not about "Tối"
    assert s.check(op, body([two], "Tối", times=("20:00",))) == []
    before = count(desk)
    with pytest.raises(Invalid):
        s.check(op, body(["x" * 24], "Sai"))
    with pytest.raises(NotFound):
        s.check(op, body([two], "Xã khác", commune="B"))
    assert count(desk) == before
