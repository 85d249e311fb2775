"""The timeline resolver: what the loudspeakers of one commune play, and when.

A pure function of its input (playlists, approved bulletins, a commune, `now`): no store, no clock,
no I/O. The rules are written out in docs/scheduling.md; the numbered steps in `resolve` follow it.
Schedules are Asia/Ho_Chi_Minh wall-clock; everything returned is an aware UTC datetime.
"""

from __future__ import annotations

import hashlib
import heapq
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal

from hub.clock import LOCAL_TZ
from hub.errors import Invalid
from hub.plugin_types import PRIORITIES

UTC = timezone.utc
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_WINDOW = timedelta(hours=24)
#: Programmes that started up to this long before `now` are still resolved, so one in progress
#: (or delayed into the window) is seen.
LOOKBACK = timedelta(hours=12)
#: Programmes and emergencies up to this long after the window are resolved too: a higher-ranked
#: programme or an emergency just past the window's end can push back one that starts inside it.
LOOKAHEAD = timedelta(hours=12)

Priority = Literal[PRIORITIES]
Reason = Literal["playlist", "priority", "emergency", "live"]


def _aware(value: datetime | None, what: str) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise Invalid(f"{what} must be timezone-aware, got {value!r}")


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a playlist airs: local weekdays × local times, between two dates, minus exception dates."""

    days: frozenset[str]
    times: tuple[time, ...]
    start_date: date
    end_date: date | None = None
    exceptions: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        bad = sorted(set(self.days) - set(DAYS))
        if bad:
            raise Invalid(f"schedule.days: unknown day(s) {bad}; use {list(DAYS)}")
        for t in self.times:
            if t.tzinfo is not None:
                raise Invalid("schedule.times are Asia/Ho_Chi_Minh wall-clock; give them without a zone")
        if self.end_date is not None and self.end_date < self.start_date:
            raise Invalid("schedule.end_date is before start_date")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schedule:
        """Parse the JSON/YAML shape of CONTRACT.md (`"06:00"`, `"2026-12-01"`); `Invalid` if wrong."""
        try:
            days = frozenset(str(d).lower() for d in data.get("days", DAYS))
            times = tuple(t if isinstance(t, time) else time.fromisoformat(str(t)) for t in data["times"])
            start = _as_date(data["start_date"])
            end = _as_date(data["end_date"]) if data.get("end_date") is not None else None
            exceptions = frozenset(_as_date(d) for d in data.get("exceptions") or ())
        except KeyError as exc:
            raise Invalid(f"schedule.{exc.args[0]} is required") from None
        except (TypeError, ValueError) as exc:
            raise Invalid(f"schedule: {exc}") from None
        return cls(days, times, start, end, exceptions)

    def occurs_on(self, day: date) -> bool:
        """Whether the playlist airs on this local date."""
        return (self.start_date <= day
                and (self.end_date is None or day <= self.end_date)
                and DAYS[day.weekday()] in self.days
                and day not in self.exceptions)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        raise TypeError(f"expected a date, got a datetime {value!r}")
    return value if isinstance(value, date) else date.fromisoformat(str(value))


@dataclass(frozen=True, slots=True)
class MediaRef:
    """One immutable audio file in the media store."""

    sha256: str
    bytes: int
    duration_s: float
    mime: str = "audio/mpeg"


@dataclass(frozen=True, slots=True)
class StreamRef:
    """Audio a device plays from a URL rather than a stored file: a relay or a live broadcast."""

    url: str
    #: The slot's length; None for a live broadcast, which lasts until it leaves the manifest.
    duration_s: float | None = None
    #: A live broadcast: over how many seconds its devices should spread their joins (docs/live.md).
    join_spread_s: float | None = None


@dataclass(frozen=True, slots=True)
class LiveSpec:
    """A live broadcast (phát trực tiếp) to some communes, on air over ``[started_at, ends_at)``.

    ``ends_at`` is the real end once it has stopped, else the longest it may last (the hub's
    limit): the timeline is resolved again when it stops, from its real end.
    """

    id: str
    priority: Literal["priority", "emergency"]
    targets: tuple[str, ...]
    started_at: datetime
    ends_at: datetime
    url: str
    #: Over how many seconds its devices spread their joins (hub/live.join_spread: by fleet size).
    join_spread_s: float | None = None

    def __post_init__(self) -> None:
        if self.priority not in ("priority", "emergency"):
            raise Invalid(f"live broadcast {self.id}: priority must be priority or emergency")
        for name in ("started_at", "ends_at"):
            _aware(getattr(self, name), f"live broadcast {self.id}: {name}")

    def targets_commune(self, commune: str) -> bool:
        return "*" in self.targets or commune in self.targets


@dataclass(frozen=True, slots=True)
class PlaylistItem:
    """A bulletin (its audio comes from the bulletin), an uploaded file such as a jingle, or a
    relay (tiếp sóng: a station's stream, played for its `duration_s`)."""

    bulletin_id: str | None = None
    media: MediaRef | None = None
    stream: StreamRef | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.bulletin_id, self.media, self.stream)) != 1:
            raise Invalid("a playlist item holds exactly one of bulletin_id, media and stream")
        if self.stream is not None and self.stream.duration_s is None:
            raise Invalid("a relay item needs its duration_s")


@dataclass(frozen=True, slots=True)
class PlaylistSpec:
    """A commune's playlist; `priority` (higher wins) settles overlapping programmes."""

    id: str
    commune: str
    name: str
    enabled: bool
    priority: int
    schedule: Schedule
    items: tuple[PlaylistItem, ...]
    created_at: datetime

    def __post_init__(self) -> None:
        _aware(self.created_at, f"playlist {self.id}: created_at")


@dataclass(frozen=True, slots=True)
class BulletinSpec:
    """An approved, current bulletin; withdrawn ones are simply not passed in."""

    id: str
    priority: Priority
    targets: tuple[str, ...]
    approved_at: datetime
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    #: None while rendering: such a bulletin cannot be scheduled yet.
    media: MediaRef | None = None
    repeat_count: int | None = None
    repeat_interval_s: int | None = None

    def __post_init__(self) -> None:
        if self.priority not in PRIORITIES:
            raise Invalid(f"bulletin {self.id}: priority must be one of {list(PRIORITIES)}")
        for name in ("approved_at", "valid_from", "valid_until"):
            _aware(getattr(self, name), f"bulletin {self.id}: {name}")

    @property
    def airs_from(self) -> datetime:
        """Nothing of this bulletin airs before this instant: approval or `valid_from`, the later."""
        if self.valid_from is None:
            return self.approved_at
        return max(self.approved_at, self.valid_from)

    def valid_at(self, instant: datetime) -> bool:
        """Whether a play may start at `instant`: within [airs_from, valid_until)."""
        return self.airs_from <= instant and (self.valid_until is None or instant < self.valid_until)

    def targets_commune(self, commune: str) -> bool:
        return "*" in self.targets or commune in self.targets


@dataclass(frozen=True, slots=True)
class Play:
    """One thing a device plays: `[starts_at, ends_at)` in UTC; `id` is stable across calls."""

    id: str
    bulletin_id: str | None
    playlist_id: str | None
    #: The bulletin's priority level; "normal" for uploaded media.
    priority: Priority
    starts_at: datetime
    ends_at: datetime
    #: The file to play; None for a play of a stream (then ``stream`` is set).
    media: MediaRef | None
    #: Why it is there: listed by a playlist, inserted as a priority bulletin, an emergency, or live.
    reason: Reason
    stream: StreamRef | None = None
    #: The live broadcast this play carries (``reason == "live"``).
    live_id: str | None = None


# ---------------------------------------------------------------------------------------------
# internals


def _play_id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def _duration(media: MediaRef | StreamRef) -> timedelta:
    # Whole microseconds, rounded once, so that sums never drift between calls.
    return timedelta(microseconds=round((media.duration_s or 0.0) * 1_000_000))


def _audio(b: BulletinSpec) -> MediaRef:
    assert b.media is not None, "only rendered bulletins get past _prepare"
    return b.media


@dataclass(slots=True)
class _Entry:
    """A candidate play inside a programme; whether it airs is decided when it is laid out."""

    #: Hashed into the play's id only when the play is emitted: most entries never are.
    id_parts: tuple[str, ...]
    bulletin: BulletinSpec | None
    playlist_id: str
    media: MediaRef | None
    length: timedelta
    reason: Reason
    stream: StreamRef | None = None


@dataclass(slots=True)
class _Programme:
    playlist: PlaylistSpec
    nominal: datetime
    entries: list[_Entry] = field(default_factory=list)
    estimate: timedelta = timedelta(0)
    placed: datetime | None = None

    @property
    def rank(self) -> tuple[int, datetime, str]:
        return (-self.playlist.priority, self.nominal, self.playlist.id)


class _Busy:
    """Emergency and live plays, sorted and disjoint: other plays must fit around them."""

    def __init__(self, plays: list[Play]) -> None:
        self.starts = [p.starts_at for p in plays]
        self.ends = [p.ends_at for p in plays]

    def fit(self, start: datetime, length: timedelta) -> datetime:
        """The earliest instant at or after `start` where `length` fits between emergency plays."""
        if not self.starts:
            return start
        i = bisect_right(self.ends, start)
        while i < len(self.starts) and self.starts[i] < start + length:
            start = max(start, self.ends[i])
            i += 1
        return start


_NO_EMERGENCIES = _Busy([])


def _lay_out(entries: list[_Entry], start: datetime, busy: _Busy, out: list[Play] | None,
             after: datetime | None = None) -> datetime:
    """Place entries back to back from `start` around emergencies; return where the programme ends.

    Plays are appended to `out` when given, except those ending at or before `after`.
    """
    t = start
    for e in entries:
        s = busy.fit(t, e.length)
        if e.bulletin is not None and not e.bulletin.valid_at(s):
            continue
        if out is not None and (after is None or s + e.length > after):
            out.append(Play(id=_play_id(*e.id_parts), bulletin_id=e.bulletin.id if e.bulletin else None,
                            playlist_id=e.playlist_id,
                            priority=e.bulletin.priority if e.bulletin else "normal",
                            starts_at=s, ends_at=s + e.length, media=e.media, reason=e.reason,
                            stream=e.stream))
        t = s + e.length
    return t


def _local_date(instant: datetime) -> date:
    return instant.astimezone(LOCAL_TZ).date()


def _starts(playlist: PlaylistSpec, since: datetime, until: datetime) -> Iterator[datetime]:
    """A playlist's nominal programme starts in [since, until), in order, as UTC."""
    sched = playlist.schedule
    if not sched.days or not sched.times:
        return
    day = max(_local_date(since), sched.start_date)
    last = _local_date(until)
    if sched.end_date is not None:
        last = min(last, sched.end_date)
    times = sorted(set(sched.times))
    while day <= last:
        if sched.occurs_on(day):
            for t in times:
                start = datetime.combine(day, t, tzinfo=LOCAL_TZ).astimezone(UTC)
                if since <= start < until:
                    yield start
        day += timedelta(days=1)


def _all_starts(playlists: list[PlaylistSpec], since: datetime, until: datetime
                ) -> Iterator[tuple[datetime, int, str, PlaylistSpec]]:
    """Every programme start of these playlists in [since, until), in rank order within an instant."""
    def keyed(p: PlaylistSpec) -> Iterator[tuple[datetime, int, str, PlaylistSpec]]:
        for s in _starts(p, since, until):
            yield s, -p.priority, p.id, p

    return heapq.merge(*(keyed(p) for p in playlists), key=lambda x: x[:3])


def _prepare(playlists: Iterable[PlaylistSpec], bulletins: Iterable[BulletinSpec], commune: str,
             now: datetime, window: timedelta
             ) -> tuple[list[PlaylistSpec], dict[str, BulletinSpec], datetime, datetime]:
    _aware(now, "now")
    now = now.astimezone(UTC)
    ours: dict[str, PlaylistSpec] = {}
    for p in playlists:
        if p.id in ours:
            raise Invalid(f"playlist {p.id} given twice")
        ours[p.id] = p
    by_id: dict[str, BulletinSpec] = {}
    for b in bulletins:
        if b.id in by_id:
            raise Invalid(f"bulletin {b.id} given twice")
        by_id[b.id] = b
    active = sorted((p for p in ours.values() if p.enabled and p.commune == commune), key=lambda p: p.id)
    # Only what this commune may air, with audio that can be timed, is kept at all.
    usable = {b.id: b for b in sorted(by_id.values(), key=lambda b: b.id)
              if b.targets_commune(commune) and b.media is not None and _duration(b.media) > timedelta(0)}
    return active, usable, now, now + window


def _programmes(active: list[PlaylistSpec], usable: dict[str, BulletinSpec], since: datetime,
                until: datetime) -> list[_Programme]:
    """Programmes starting in [since, until) with their candidate entries and estimated lengths."""
    programmes = [_Programme(p, s) for s, _, _, p in _all_starts(active, since, until)]

    # Priority bulletins go to the first N programmes of the commune that start at or after they
    # may air, counted from that instant (not from the horizon), so the choice never moves as `now` does.
    due: dict[tuple[str, datetime], list[BulletinSpec]] = {}
    for b in usable.values():
        if b.priority != "priority":
            continue
        left = max(1, 1 if b.repeat_count is None else b.repeat_count)
        stop = until if b.valid_until is None else min(until, b.valid_until)
        for s, _, pid, _p in _all_starts(active, b.airs_from, stop):
            due.setdefault((pid, s), []).append(b)
            left -= 1
            if left == 0:
                break

    for prog in programmes:
        p, key = prog.playlist, prog.nominal.isoformat()
        firsts = sorted(due.get((p.id, prog.nominal), ()), key=lambda b: (b.airs_from, b.id))
        front = [_Entry(("priority", p.id, key, b.id), b, p.id, _audio(b), _duration(_audio(b)), "priority")
                 for b in firsts]
        seen = {b.id for b in firsts}
        rest: list[_Entry] = []
        for index, item in enumerate(p.items):
            if item.stream is not None:
                # A relay takes its slot like uploaded audio: it always plays, for its duration_s.
                length = _duration(item.stream)
                if length > timedelta(0):
                    rest.append(_Entry(("playlist", p.id, key, str(index), "stream", item.stream.url,
                                        repr(item.stream.duration_s)),
                                       None, p.id, None, length, "playlist", item.stream))
                continue
            if item.media is not None:
                length = _duration(item.media)
                if length > timedelta(0):
                    rest.append(_Entry(("playlist", p.id, key, str(index), item.media.sha256),
                                       None, p.id, item.media, length, "playlist"))
                continue
            b = usable.get(item.bulletin_id or "")
            if b is None:
                continue
            entry = _Entry(("playlist", p.id, key, str(index), b.id), b, p.id, _audio(b), _duration(_audio(b)),
                           "playlist")
            if b.priority == "priority":
                # Played first within the programme, and only once in it.
                if b.id not in seen:
                    seen.add(b.id)
                    front.append(entry)
            else:
                rest.append(entry)
        prog.entries = front + rest
        prog.estimate = _lay_out(prog.entries, prog.nominal, _NO_EMERGENCIES, None) - prog.nominal
    return programmes


def _place(programmes: list[_Programme]) -> None:
    """Give each programme a start: best-ranked first, each at the earliest free gap from its own time."""
    taken: list[tuple[datetime, datetime]] = []
    for prog in sorted(programmes, key=lambda p: p.rank):
        s = prog.nominal
        if prog.estimate <= timedelta(0):
            prog.placed = s
            continue
        i = 0
        while i < len(taken):
            a, b = taken[i]
            if b <= s:
                i += 1
            elif a >= s + prog.estimate:
                break
            else:
                s = b
                i += 1
        prog.placed = s
        taken.insert(i, (s, s + prog.estimate))


def _past(start: datetime, length: timedelta, blocks: Iterable[tuple[datetime, datetime]]) -> datetime:
    """The earliest instant at or after `start` where `length` overlaps none of `blocks` (sorted)."""
    for a, b in blocks:
        if a < start + length and start < b:
            start = b
    return start


def _lives(lives: Iterable[LiveSpec], commune: str) -> list[tuple[datetime, datetime, LiveSpec]]:
    """The commune's live broadcasts, in order of start; one overlapping an earlier one starts when
    that one ends (the hub refuses a second at once, so this is only a safeguard)."""
    placed: list[tuple[datetime, datetime, LiveSpec]] = []
    free = datetime.min.replace(tzinfo=UTC)
    seen: set[str] = set()
    for live in sorted(lives, key=lambda x: (x.started_at, x.id)):
        if live.id in seen:
            raise Invalid(f"live broadcast {live.id} given twice")
        seen.add(live.id)
        if not live.targets_commune(commune):
            continue
        start, end = max(live.started_at.astimezone(UTC), free), live.ends_at.astimezone(UTC)
        if start < end:
            placed.append((start, end, live))
            free = end
    return placed


def _live_plays(placed: list[tuple[datetime, datetime, LiveSpec]], urgent: list[Play]) -> list[Play]:
    """A live broadcast's plays: an emergency one whole; a priority one in the pieces that the
    emergency bulletins' plays leave free (it is heard again after each)."""
    plays: list[Play] = []
    for start, end, live in placed:
        pieces = [(start, end)]
        if live.priority != "emergency":
            pieces = []
            t = start
            for e in urgent:
                if e.ends_at <= t or e.starts_at >= end:
                    continue
                if e.starts_at > t:
                    pieces.append((t, e.starts_at))
                t = max(t, e.ends_at)
            if t < end:
                pieces.append((t, end))
        for k, (a, b) in enumerate(pieces):
            plays.append(Play(id=_play_id("live", live.id, str(k)), bulletin_id=None, playlist_id=None,
                              priority=live.priority, starts_at=a, ends_at=b, media=None, reason="live",
                              stream=StreamRef(live.url, join_spread_s=live.join_spread_s), live_id=live.id))
    return plays


def live_play_ids(live_id: str, pieces: int = 32) -> list[str]:
    """The ids a live broadcast's plays may carry (its first ``pieces`` pieces), to find their reports."""
    return [_play_id("live", live_id, str(k)) for k in range(pieces)]


def _emergencies(usable: dict[str, BulletinSpec], until: datetime, default_count: int,
                 default_interval_s: int, blocks: Iterable[tuple[datetime, datetime]] = ()) -> list[Play]:
    """Every emergency play up to `until`, queued first come first served so none overlap, and
    after any emergency live broadcast (`blocks`) they would overlap."""
    nominal: list[tuple[datetime, datetime, str, int, BulletinSpec]] = []
    for b in usable.values():
        if b.priority != "emergency":
            continue
        count = max(1, default_count if b.repeat_count is None else b.repeat_count)
        interval = timedelta(seconds=max(0, default_interval_s if b.repeat_interval_s is None
                                         else b.repeat_interval_s))
        first = b.airs_from.astimezone(UTC)
        for k in range(count):
            at = first + k * interval
            if at >= until or not b.valid_at(at):
                break
            nominal.append((at, b.approved_at, b.id, k, b))
    nominal.sort(key=lambda n: n[:4])
    plays: list[Play] = []
    free = datetime.min.replace(tzinfo=UTC)
    for at, _, bid, k, b in nominal:
        length = _duration(_audio(b))
        s = _past(max(at, free), length, blocks)
        if not b.valid_at(s):
            continue
        plays.append(Play(id=_play_id("emergency", bid, str(k)), bulletin_id=bid, playlist_id=None,
                          priority="emergency", starts_at=s, ends_at=s + length,
                          media=_audio(b), reason="emergency"))
        free = s + length
    return plays


# ---------------------------------------------------------------------------------------------
# public


def resolve(playlists: Iterable[PlaylistSpec], bulletins: Iterable[BulletinSpec], commune: str,
            now: datetime, window: timedelta = DEFAULT_WINDOW, *, default_repeat_count: int = 3,
            default_repeat_interval_s: int = 600, lives: Iterable[LiveSpec] = ()) -> list[Play]:
    """Every play on `commune`'s loudspeakers that intersects [now, now + window), sorted by start.

    A play already in progress at `now` is included, so a device knows what should be on air.
    The rules are in docs/scheduling.md. Raises `Invalid` on naive datetimes or duplicate ids.
    """
    active, usable, now, end = _prepare(playlists, bulletins, commune, now, window)
    if window <= timedelta(0):
        return []
    # 0. live broadcasts are on air when they are, 1. then emergencies (after an emergency live),
    # fixed before everything else: nothing else may move them; a priority live yields to them.
    placed = _lives(lives, commune)
    blocks = [(a, b) for a, b, live in placed if live.priority == "emergency"]
    urgent = _emergencies(usable, end + LOOKAHEAD, default_repeat_count, default_repeat_interval_s, blocks)
    urgent.extend(_live_plays(placed, urgent))
    urgent.sort(key=lambda p: p.starts_at)
    busy = _Busy(urgent)
    # 2. programmes and their contents, 3. who keeps their time when programmes overlap.
    programmes = _programmes(active, usable, now - LOOKBACK, end + LOOKAHEAD)
    _place(programmes)
    # 4. lay out in time order around the emergencies; a programme pushed later pushes the next.
    plays: list[Play] = []
    cursor = datetime.min.replace(tzinfo=UTC)
    for prog in sorted(programmes, key=lambda p: (p.placed or p.nominal, p.rank)):
        cursor = _lay_out(prog.entries, max(prog.placed or prog.nominal, cursor), busy, plays, now)
    plays.extend(urgent)
    return sorted((p for p in plays if p.starts_at < end and p.ends_at > now), key=lambda p: (p.starts_at, p.id))


def conflicts(playlists: Iterable[PlaylistSpec], commune: str, now: datetime,
              window: timedelta = DEFAULT_WINDOW, *, bulletins: Iterable[BulletinSpec] = ()) -> list[str]:
    """Warnings, in English, naming each pair of playlists whose programmes overlap in the window.

    Lengths are the programmes' own at their scheduled times (priority insertions included), before
    emergencies; without `bulletins` only uploaded media count, so pass them for true lengths.
    """
    active, usable, now, end = _prepare(playlists, bulletins, commune, now, window)
    if window <= timedelta(0):
        return []
    programmes = [p for p in _programmes(active, usable, now - LOOKBACK, end)
                  if p.estimate > timedelta(0) and p.nominal + p.estimate > now]
    found: dict[tuple[str, str], list[tuple[_Programme, _Programme, datetime]]] = {}
    for i, a in enumerate(programmes):  # sorted by nominal start
        for b in programmes[i + 1:]:
            if b.nominal >= a.nominal + a.estimate:
                break
            first, second = sorted((a, b), key=lambda p: p.rank)
            pair = (min(a.playlist.id, b.playlist.id), max(a.playlist.id, b.playlist.id))
            found.setdefault(pair, []).append((first, second, b.nominal))
    warnings = []
    for key in sorted(found):
        winner, loser, overlap = found[key][0]
        n = len(found[key])
        times = f"{n} time{'s' if n > 1 else ''}"
        at = overlap.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
        if winner.playlist.id == loser.playlist.id:
            warnings.append(
                f'Playlist "{winner.playlist.name}" ({winner.playlist.id}) overlaps itself {times} in the '
                f"window, first at {at} Asia/Ho_Chi_Minh: a programme is still playing when the next "
                f"starts, so the next is delayed until it ends.")
        else:
            warnings.append(
                f'Playlists "{winner.playlist.name}" ({winner.playlist.id}) and "{loser.playlist.name}" '
                f"({loser.playlist.id}) overlap {times} in the window, first at {at} Asia/Ho_Chi_Minh: "
                f'"{loser.playlist.name}" is delayed until "{winner.playlist.name}" ends.')
    return warnings


__all__ = ["DAYS", "BulletinSpec", "LOCAL_TZ", "LiveSpec", "MediaRef", "StreamRef", "Play", "PlaylistItem", "PlaylistSpec", "Schedule",
           "conflicts", "live_play_ids", "resolve"]
