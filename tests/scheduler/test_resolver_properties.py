"""Properties of the timeline resolver that must hold for any playlists, bulletins and `now`."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, time, timedelta, timezone

import hypothesis.strategies as st
from hypothesis import HealthCheck, event, given, settings

from hub.scheduler import DAYS, LOCAL_TZ, BulletinSpec, Play, PlaylistItem, PlaylistSpec, Schedule, resolve
from tests.scheduler.test_resolver import media

UTC = timezone.utc
C = "c1"
BASE = datetime(2026, 12, 1, tzinfo=LOCAL_TZ)
DEFAULT_COUNT, DEFAULT_INTERVAL = 3, 600
# A few shared times make overlapping programmes and midnight crossings common.
TIMES = [time(5, 50), time(6), time(6, 5), time(11, 30), time(23, 50), time(23, 58), time(0, 10)]
BULLETIN_IDS = [f"b{i}" for i in range(6)]

PROPS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


SECONDS = st.sampled_from([30, 60, 180, 300, 600]) | st.integers(1, 900)
# Offsets from `now`: mostly close by, where emergencies and validity edges meet the programmes.
NEAR = st.integers(-3600, 3600) | st.integers(-36 * 3600, 30 * 3600)
DAY_SETS = [frozenset(DAYS), frozenset(DAYS), frozenset(DAYS[:5]), frozenset({"tue", "thu"})]
ITEMS = st.sampled_from(BULLETIN_IDS + ["gone"]).map(lambda b: PlaylistItem(bulletin_id=b)) | st.integers(
    1, 300).map(lambda s: PlaylistItem(media=media(f"jingle{s}", s)))
TIMES_OF_DAY = st.sampled_from(TIMES) | st.integers(0, 1439).map(lambda m: time(m // 60, m % 60))
WINDOWS = st.sampled_from([timedelta(hours=24), timedelta(hours=36), timedelta(hours=6)])


def instants(lo_h: int, hi_h: int):
    """Instants from BASE + lo_h hours to BASE + hi_h hours, to the second, in UTC."""
    return st.integers(lo_h * 3600, hi_h * 3600).map(lambda s: (BASE + timedelta(seconds=s)).astimezone(UTC))


# `now` anywhere, or close to a shared programme time, where programmes are in progress.
NOWS = instants(-12, 60) | st.builds(
    lambda d, t, s: (datetime.combine(BASE.date() + timedelta(days=d), t, LOCAL_TZ) + timedelta(seconds=s)
                     ).astimezone(UTC),
    st.integers(-1, 2), st.sampled_from(TIMES), st.integers(-600, 1800))


@st.composite
def bulletins(draw, now: datetime) -> list[BulletinSpec]:
    def near():
        # In either zone: the resolver must answer in UTC whatever it is given.
        return (now + timedelta(seconds=draw(NEAR))).astimezone(draw(st.sampled_from([UTC, LOCAL_TZ])))

    out = []
    for bid in draw(st.lists(st.sampled_from(BULLETIN_IDS), unique=True, min_size=1, max_size=len(BULLETIN_IDS))):
        out.append(BulletinSpec(
            id=bid,
            priority=draw(st.sampled_from(["normal", "normal", "priority", "emergency"])),
            targets=draw(st.sampled_from([(C,), (C,), ("*",), ("c2", C), ("c2",)])),
            approved_at=near(),
            valid_from=near() if draw(st.booleans()) else None,
            valid_until=near() if draw(st.booleans()) else None,
            # One in ten still rendering.
            media=media(bid, draw(SECONDS)) if draw(st.integers(0, 9)) else None,
            repeat_count=draw(st.none() | st.integers(0, 5)),
            repeat_interval_s=draw(st.none() | st.integers(0, 1800)),
        ))
    return out


@st.composite
def playlists(draw) -> list[PlaylistSpec]:
    out = []
    for i in range(draw(st.integers(1, 4))):
        start = BASE.date() + timedelta(days=draw(st.integers(-2, 1)))
        end = draw(st.none() | st.integers(0, 3).map(lambda n, s=start: s + timedelta(days=n)))
        out.append(PlaylistSpec(
            id=f"p{i}", commune=draw(st.sampled_from([C] * 5 + ["c2"])), name=f"Playlist {i}",
            enabled=draw(st.integers(0, 5)) > 0, priority=draw(st.integers(0, 2)),
            schedule=Schedule(
                days=draw(st.sampled_from(DAY_SETS)),
                times=tuple(draw(st.lists(TIMES_OF_DAY, min_size=1, max_size=3))),
                start_date=start, end_date=end,
                exceptions=frozenset(draw(st.lists(st.sampled_from(
                    [BASE.date() + timedelta(days=n) for n in range(-1, 4)]), max_size=2)))),
            items=tuple(draw(st.lists(ITEMS, min_size=1, max_size=5))), created_at=BASE))
    return out


def at_programme_time(draw) -> datetime:
    """An instant a little before or after one of the shared programme times, on a day near BASE."""
    day = BASE.date() + timedelta(days=draw(st.integers(-1, 2)))
    return (datetime.combine(day, draw(st.sampled_from(TIMES)), LOCAL_TZ)
            + timedelta(seconds=draw(st.integers(-600, 1800)))).astimezone(UTC)


@st.composite
def worlds(draw) -> tuple[list[PlaylistSpec], list[BulletinSpec], datetime]:
    now = draw(NOWS)
    pls, bs = draw(playlists()), draw(bulletins(now))
    if draw(st.booleans()):
        # A busy daily playlist and emergencies landing on its programmes: interruptions and delays.
        pls.append(PlaylistSpec(
            id="pz", commune=C, name="Busy", enabled=True, priority=draw(st.integers(0, 2)),
            schedule=Schedule(frozenset(DAYS), tuple(draw(st.lists(st.sampled_from(TIMES), min_size=1, max_size=4))),
                              BASE.date() - timedelta(days=2)),
            items=tuple(draw(st.lists(ITEMS, min_size=2, max_size=6))), created_at=BASE))
        for i in range(draw(st.integers(1, 2))):
            bs.append(BulletinSpec(
                id=f"e{i}", priority="emergency", targets=(C,), approved_at=at_programme_time(draw),
                valid_until=at_programme_time(draw) if draw(st.booleans()) else None,
                media=media(f"e{i}", draw(SECONDS)), repeat_count=draw(st.none() | st.integers(1, 4)),
                repeat_interval_s=draw(st.none() | st.integers(0, 900))))
    return pls, bs, now


def run(pls, bs, now, window=timedelta(hours=24)) -> list[Play]:
    return resolve(pls, bs, C, now, window, default_repeat_count=DEFAULT_COUNT,
                   default_repeat_interval_s=DEFAULT_INTERVAL)


def check_sorted_disjoint_in_window_utc(plays: list[Play], now: datetime, window: timedelta) -> None:
    for p in plays:
        assert p.starts_at < now + window and p.ends_at > now
        assert p.starts_at.tzinfo is UTC and p.ends_at > p.starts_at
        assert p.ends_at - p.starts_at == timedelta(microseconds=round(p.media.duration_s * 1e6))
    for a, b in zip(plays, plays[1:]):
        assert a.ends_at <= b.starts_at, (a, b)
    assert len({p.id for p in plays}) == len(plays)


def check_emergency_starts_honoured(plays: list[Play]) -> None:
    for e in (p for p in plays if p.reason == "emergency"):
        assert not any(o is not e and o.starts_at <= e.starts_at < o.ends_at for o in plays)


def check_only_valid_approved_rendered_targeted(plays: list[Play], bs: list[BulletinSpec]) -> None:
    by_id = {b.id: b for b in bs}
    for p in plays:
        if p.bulletin_id is None:
            assert p.reason == "playlist" and p.priority == "normal"
            continue
        b = by_id[p.bulletin_id]  # a withdrawn bulletin (not in the input) never airs
        assert b.media == p.media
        assert "*" in b.targets or C in b.targets
        # Written out here rather than calling BulletinSpec.valid_at, the code under test.
        assert p.starts_at >= b.approved_at and (b.valid_from is None or p.starts_at >= b.valid_from), (p, b)
        assert b.valid_until is None or p.starts_at < b.valid_until, (p, b)
        assert p.priority == b.priority


def check_reasons(plays: list[Play], pls: list[PlaylistSpec], bs: list[BulletinSpec]) -> None:
    by_id = {b.id: b for b in bs}
    ours = {p.id: p for p in pls if p.enabled and p.commune == C}
    for p in plays:
        if p.reason == "playlist":
            # Normal bulletins (and uploaded media) come only this way, from a playlist that lists them.
            listed = ours[p.playlist_id].items
            item = PlaylistItem(bulletin_id=p.bulletin_id) if p.bulletin_id else PlaylistItem(media=p.media)
            assert item in listed
        elif p.reason == "priority":
            assert p.playlist_id in ours and by_id[p.bulletin_id].priority == "priority"
        else:
            assert p.playlist_id is None and by_id[p.bulletin_id].priority == "emergency"
    for (bid, reason), n in Counter((p.bulletin_id, p.reason) for p in plays).items():
        b = by_id.get(bid or "")
        if reason == "priority":
            assert n <= max(1, 1 if b.repeat_count is None else b.repeat_count)
        if reason == "emergency":
            assert n <= max(1, DEFAULT_COUNT if b.repeat_count is None else b.repeat_count)


def check_lone_emergency_on_schedule(plays: list[Play], bs: list[BulletinSpec], now: datetime,
                                     window: timedelta) -> None:
    urgent = [b for b in bs if b.priority == "emergency" and b.media is not None
              and ("*" in b.targets or C in b.targets)]
    if len(urgent) != 1:
        return
    b = urgent[0]
    count = max(1, DEFAULT_COUNT if b.repeat_count is None else b.repeat_count)
    interval = timedelta(seconds=DEFAULT_INTERVAL if b.repeat_interval_s is None else b.repeat_interval_s)
    length = timedelta(seconds=b.media.duration_s)
    if length > interval:
        return  # its repeats then queue back to back
    expected = [b.airs_from + k * interval for k in range(count)]
    expected = [t for t in expected if b.valid_at(t) and t < now + window and t + length > now]
    assert [p.starts_at for p in plays if p.reason == "emergency"] == expected


def note_cases(plays: list[Play], now: datetime) -> None:
    """Label what an example reached; `pytest --hypothesis-show-statistics` shows how often."""
    for reason in sorted({p.reason for p in plays}):
        event(f"has {reason} plays")
    if any(a.playlist_id != b.playlist_id and a.reason == b.reason == "playlist" and a.ends_at == b.starts_at
           for a, b in zip(plays, plays[1:])):
        event("programmes of two playlists touch (one waited)")
    if any(p.starts_at.astimezone(LOCAL_TZ).date() != p.ends_at.astimezone(LOCAL_TZ).date() for p in plays):
        event("a play crosses local midnight")
    if any(p.starts_at < now for p in plays):
        event("a play is in progress at now")
    if any(p.reason == "emergency" for p in plays) and any(p.reason != "emergency" for p in plays):
        event("emergencies and programmes together")


@PROPS
@given(world=worlds(), window=WINDOWS)
def test_every_resolution_keeps_the_rules(world, window):
    pls, bs, now = world
    plays = run(pls, bs, now, window)
    note_cases(plays, now)
    check_sorted_disjoint_in_window_utc(plays, now, window)
    check_emergency_starts_honoured(plays)
    check_only_valid_approved_rendered_targeted(plays, bs)
    check_reasons(plays, pls, bs)
    check_lone_emergency_on_schedule(plays, bs, now, window)


@PROPS
@given(world=worlds(), seed=st.integers(0, 2**32))
def test_input_order_does_not_matter(world, seed):
    pls, bs, now = world
    first = run(pls, bs, now)
    rng = random.Random(seed)
    rng.shuffle(pls)
    rng.shuffle(bs)
    assert run(pls, bs, now) == first


@PROPS
@given(world=worlds(), later=st.integers(0, 6 * 3600))
def test_a_later_now_agrees_on_what_both_windows_see(world, later):
    pls, bs, now = world
    # What a device fetched a few hours ago still holds for the part both manifests cover, ids included.
    window = timedelta(hours=24)
    then = now + timedelta(seconds=later)
    a = [p for p in run(pls, bs, now, window) if p.ends_at > then]
    b = [p for p in run(pls, bs, then, window) if p.starts_at < now + window]
    assert a == b
