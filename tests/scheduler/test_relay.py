"""Relays (tiếp sóng) in the resolver: placed like any other item, pushed by emergencies, stable ids."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.errors import Invalid
from hub.scheduler import PlaylistItem, PlaylistSpec, StreamRef, resolve
from tests.scheduler.test_resolver import C, bulletin, local, media, playlist

VOV = "http://radio.example.vn/vov1.mp3"


def with_relay(pid: str, *items, times=("06:00",), priority: int = 0) -> PlaylistSpec:
    base = playlist(pid, (), times, priority=priority)
    built = tuple(PlaylistItem(stream=i) if isinstance(i, StreamRef) else
                  PlaylistItem(bulletin_id=i) if isinstance(i, str) else PlaylistItem(media=i) for i in items)
    return PlaylistSpec(id=base.id, commune=base.commune, name=base.name, enabled=True, priority=priority,
                        schedule=base.schedule, items=built, created_at=base.created_at)


def test_a_relay_takes_its_slot_between_other_items():
    jingle = media("jingle", 10)
    plays = resolve([with_relay("p", jingle, StreamRef(VOV, 900), "b1")], [bulletin("b1", 60)], C,
                    local(1, 5))
    day1 = [p for p in plays if p.starts_at < local(1, 7)]
    assert [(p.media and p.media.sha256[:6], p.stream, p.starts_at, p.ends_at) for p in day1] == [
        (jingle.sha256[:6], None, local(1, 6), local(1, 6, 0, 10)),
        (None, StreamRef(VOV, 900), local(1, 6, 0, 10), local(1, 6, 15, 10)),
        (media("b1", 60).sha256[:6], None, local(1, 6, 15, 10), local(1, 6, 16, 10)),
    ]
    relay = day1[1]
    assert (relay.bulletin_id, relay.priority, relay.reason, relay.playlist_id) == (None, "normal", "playlist", "p")


def test_an_emergency_pushes_a_relay_later_and_its_id_stays():
    relay = StreamRef(VOV, 600)
    before = resolve([with_relay("p", relay)], [], C, local(1, 5))
    urgent = bulletin("e1", 30, "emergency", approved=local(1, 5, 59, 50), count=1)
    after = resolve([with_relay("p", relay)], [urgent], C, local(1, 5))
    moved = [p for p in after if p.stream is not None][0]
    assert moved.id == [p for p in before if p.stream is not None][0].id
    # The emergency runs 05:59:50-06:00:20; the relay's whole slot follows it.
    assert (moved.starts_at, moved.ends_at) == (local(1, 6, 0, 20), local(1, 6, 10, 20))


def test_relay_ids_follow_url_and_length_and_a_relay_without_a_length_is_refused():
    a = resolve([with_relay("p", StreamRef(VOV, 600))], [], C, local(1, 5))[0]
    b = resolve([with_relay("p", StreamRef(VOV + "?x", 600))], [], C, local(1, 5))[0]
    c = resolve([with_relay("p", StreamRef(VOV, 601))], [], C, local(1, 5))[0]
    assert len({a.id, b.id, c.id}) == 3
    assert c.ends_at - c.starts_at == timedelta(seconds=601)
    with pytest.raises(Invalid):
        PlaylistItem(stream=StreamRef(VOV))
    with pytest.raises(Invalid):
        PlaylistItem(stream=StreamRef(VOV, 60), media=media("x", 1))


def test_a_higher_ranked_relay_programme_delays_a_lower_one():
    news = with_relay("a", StreamRef(VOV, 900), priority=5)
    music = with_relay("b", media("m", 300), times=("06:05",))
    plays = resolve([news, music], [], C, local(1, 5))
    first_day = [(p.playlist_id, p.starts_at) for p in plays if p.starts_at < local(1, 7)]
    assert first_day == [("a", local(1, 6)), ("b", local(1, 6, 15))]
