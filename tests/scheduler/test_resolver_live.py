"""Live broadcasts in the resolver (docs/scheduling.md, "Live broadcasts"), rule by rule."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.errors import Invalid
from hub.scheduler import LiveSpec, live_play_ids, resolve
from tests.scheduler.test_resolver import C, assert_disjoint, bulletin, local, lt, playlist

URL = "http://icecast.example:8000/live/x.mp3"


def live(lid: str, start, end, priority: str = "emergency", targets=(C,)) -> LiveSpec:
    return LiveSpec(id=lid, priority=priority, targets=tuple(targets), started_at=start, ends_at=end,  # type: ignore[arg-type]
                    url=URL)


def shape(plays):
    return [(p.live_id or p.bulletin_id, p.starts_at.astimezone(local(1).tzinfo).replace(tzinfo=None), p.reason)
            for p in plays]


def test_live_interrupts_the_programme_which_resumes_after_it_with_the_same_ids():
    pl = playlist("p", ("b1", "b2", "b3"))
    bs = [bulletin("b1"), bulletin("b2"), bulletin("b3")]
    before = resolve([pl], bs, C, local(1, 5))
    on = live("L", local(1, 6, 1, 30), local(1, 6, 3))
    plays = resolve([pl], bs, C, local(1, 6, 1, 40), timedelta(hours=1), lives=[on])
    assert shape(plays) == [("L", lt(1, 6, 1, 30), "live"), ("b2", lt(1, 6, 3), "playlist"),
                            ("b3", lt(1, 6, 4), "playlist")]
    assert plays[0].stream is not None and plays[0].stream.url == URL and plays[0].stream.duration_s is None
    assert plays[0].media is None and plays[0].bulletin_id is None and plays[0].priority == "emergency"
    # b2 was cut by the live broadcast: listed again in full after it, with its id.
    assert plays[1].id == before[1].id
    assert plays[0].id in live_play_ids("L")


def test_a_stopped_live_gives_the_time_back():
    pl = playlist("p", ("b1", "b2"), ("06:00",))
    bs = [bulletin("b1"), bulletin("b2")]
    # On air with the hub's limit as its end: the programme waits for that end...
    on_air = resolve([pl], bs, C, local(1, 5, 59), timedelta(hours=2), lives=[live("L", local(1, 5, 58), local(1, 6, 58))])
    assert shape(on_air)[1:] == [("b1", lt(1, 6, 58), "playlist"), ("b2", lt(1, 6, 59), "playlist")]
    # ...and stopped at 06:00:30, the programme follows the real end.
    stopped = resolve([pl], bs, C, local(1, 6, 0, 10), timedelta(hours=1), lives=[live("L", local(1, 5, 58), local(1, 6, 0, 30))])
    assert shape(stopped) == [("L", lt(1, 5, 58), "live"), ("b1", lt(1, 6, 0, 30), "playlist"),
                              ("b2", lt(1, 6, 1, 30), "playlist")]


def test_an_emergency_live_holds_back_emergency_bulletins_until_it_ends():
    em = bulletin("em", 45, "emergency", approved=local(1, 6, 1), count=1)
    plays = resolve([], [em], C, local(1, 6), lives=[live("L", local(1, 6), local(1, 6, 5))])
    assert shape(plays) == [("L", lt(1, 6), "live"), ("em", lt(1, 6, 5), "emergency")]


def test_an_emergency_bulletin_on_air_is_cut_by_an_emergency_live_and_heard_whole_after():
    em = bulletin("em", 120, "emergency", approved=local(1, 6), count=1)
    before = resolve([], [em], C, local(1, 6))
    plays = resolve([], [em], C, local(1, 6, 1), lives=[live("L", local(1, 6, 1), local(1, 6, 3))])
    assert shape(plays) == [("L", lt(1, 6, 1), "live"), ("em", lt(1, 6, 3), "emergency")]
    assert plays[1].id == before[0].id


def test_a_priority_live_yields_to_an_emergency_bulletin_and_goes_on_after_it():
    em = bulletin("em", 60, "emergency", approved=local(1, 6, 2), count=1)
    plays = resolve([], [em], C, local(1, 6), lives=[live("L", local(1, 6), local(1, 6, 5), "priority")])
    assert shape(plays) == [("L", lt(1, 6), "live"), ("em", lt(1, 6, 2), "emergency"), ("L", lt(1, 6, 3), "live")]
    assert plays[0].id != plays[2].id and {plays[0].id, plays[2].id} <= set(live_play_ids("L"))
    assert all(p.priority == "priority" for p in plays if p.reason == "live")


def test_live_only_for_its_communes_and_overlapping_lives_never_overlap():
    pl = playlist("p", ("b1",))
    bs = [bulletin("b1")]
    assert shape(resolve([pl], bs, C, local(1, 5), lives=[live("L", local(1, 6), local(1, 7), targets=("c2",))])) \
        == [("b1", lt(1, 6), "playlist")]
    both = [live("A", local(1, 6), local(1, 6, 10)), live("B", local(1, 6, 5), local(1, 6, 20), "priority")]
    plays = resolve([pl], bs, C, local(1, 5), lives=both)
    assert_disjoint(plays)
    assert shape(plays) == [("A", lt(1, 6), "live"), ("B", lt(1, 6, 10), "live"), ("b1", lt(1, 6, 20), "playlist")]


@pytest.mark.parametrize("make", [
    lambda: live("L", local(1, 6).replace(tzinfo=None), local(1, 7)),
    lambda: live("L", local(1, 6), local(1, 7), "normal"),
    lambda: resolve([], [], C, local(1, 6), lives=[live("L", local(1, 6), local(1, 7))] * 2),
])
def test_bad_live_input_is_invalid(make):
    with pytest.raises(Invalid):
        make()
