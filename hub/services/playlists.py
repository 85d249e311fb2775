"""Playlists: a commune's programmes, from the API, the console and files in ``playlists/``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import manifests, scheduler, stream_check
from hub import playlists as domain
from hub.auth import Principal
from hub.clock import LOCAL_TZ
from hub.errors import Invalid, NotFound
from hub.manifests import conflicts_for_commune
from hub.models import Bulletin, Commune, Revision, utcnow
from hub.services import Service

log = logging.getLogger(__name__)
PlaylistIn = domain.PlaylistIn
#: How far ahead conflicts between a commune's programmes are looked for.
WARNINGS_AHEAD = timedelta(days=7)
#: Files are the operator's authority: whoever may run ``hub playlists sync`` owns the machine.
FILES = Principal("system", "hub playlists sync", "admin")


def _warnings(session: Session, commune: str) -> list[str]:
    return conflicts_for_commune(session, commune, utcnow(), WARNINGS_AHEAD)


class PlaylistService(Service):
    def create(self, principal: Principal, data: PlaylistIn) -> dict[str, Any]:
        """A new playlist, with the conflicts it makes with the commune's others as ``warnings``."""
        with self.transaction() as t:
            playlist = domain.create(t.session, principal, data)
            return domain.playlist_view(playlist, _warnings(t.session, playlist.commune))

    def get(self, principal: Principal, playlist_id: str) -> dict[str, Any]:
        with self.reading() as session:
            playlist = domain.visible(session, principal, playlist_id)
            return domain.playlist_view(playlist, _warnings(session, playlist.commune))

    def listing(self, principal: Principal, commune: str | None = None) -> list[dict[str, Any]]:
        with self.reading() as session:
            return [domain.playlist_view(p) for p in domain.listing(session, principal, commune)]

    def replace(self, principal: Principal, playlist_id: str, data: PlaylistIn) -> dict[str, Any]:
        with self.transaction() as t:
            playlist = domain.replace(t.session, principal, playlist_id, data)
            return domain.playlist_view(playlist, _warnings(t.session, playlist.commune))

    def delete(self, principal: Principal, playlist_id: str) -> None:
        with self.transaction() as t:
            domain.delete(t.session, principal, playlist_id)

    def check_stream(self, principal: Principal, url: str, *,
                     allow: Callable[[str], bool] | None = None) -> dict[str, Any]:
        """Connect to a relay's stream briefly and say what answered (hub/stream_check.py): the one
        time the hub opens a user's URL. Loopback, private, link-local and multicast addresses are
        refused (422); ``allow`` is for tests only, no door passes it."""
        principal.require("admin", "editor", "operator")
        log.info("stream check by %s: %s", principal.id, url[:300])
        return stream_check.check_stream(url, allow=allow)

    def sync(self, directory: Path, principal: Principal = FILES) -> domain.SyncReport:
        """Make the file-owned playlists equal the YAML files in ``directory`` (see hub/playlists.py)."""
        with self.transaction() as t:
            return domain.sync(t.session, principal, directory)


    # --- for the console (issue 12): a commune's timeline over days, and a check before saving ----
    # Both go through what the manifests use (hub/manifests.py load_inputs, the scheduler's resolve
    # and conflicts), so what the operator sees is what the loudspeakers get.

    def timeline(self, principal: Principal, commune: str, first: date, days: int = 7) -> dict[str, Any]:
        """What ``commune``'s loudspeakers play over local days [first, first + days), resolved now.

        ``programmes``: each playlist run at one of its times (``playlist_id``, ``name``,
        ``priority``, ``nominal`` = its scheduled start, ``starts_at``, ``ends_at``, ``delay_s``,
        ``delayed_by`` = what was on air at its time, ``[{"kind": "emergency"|"playlist", "name"}]``)
        and each emergency (``emergency: True``, no playlist), with their ``plays`` (``id`` = the
        manifest item id, ``bulletin_id``, ``priority``, ``reason``, ``starts_at``, ``ends_at``,
        ``media_sha256``, ``duration_s``); ``warnings``: the scheduler's conflicts from now to the
        end; ``bulletins``: id → title. Another commune for an operator, or unknown: NotFound."""
        principal.require("admin", "editor", "operator", "monitor")
        if not 1 <= days <= TIMELINE_MAX_DAYS:
            raise Invalid(f"days must be 1 to {TIMELINE_MAX_DAYS}")
        if principal.is_device or not principal.sees_commune(commune):
            raise NotFound(f"unknown commune: {commune}")
        start = datetime.combine(first, time(0), LOCAL_TZ).astimezone(scheduler.UTC)
        end = datetime.combine(first + timedelta(days=days), time(0), LOCAL_TZ).astimezone(scheduler.UTC)
        now = utcnow()
        with self.reading() as session:
            if session.get(Commune, commune) is None:
                raise NotFound(f"unknown commune: {commune}")
            playlists, bulletins, _ = manifests.load_inputs(session, commune, start)
            plays = scheduler.resolve(playlists, bulletins, commune, start, end - start)
            since = max(start, now)
            warnings = scheduler.conflicts(playlists, commune, since, end - since, bulletins=bulletins) \
                if end > since else []
            ids = sorted({p.bulletin_id for p in plays if p.bulletin_id})
            titles = dict(session.execute(select(Bulletin.id, Revision.title).join(Revision, (
                Revision.bulletin_id == Bulletin.id) & (Revision.revision == Bulletin.revision))
                .where(Bulletin.id.in_(ids))).all()) if ids else {}
        return {"commune": commune, "first": first, "days": days, "programmes": _programmes(playlists, plays),
                "warnings": list(warnings), "bulletins": titles}

    @staticmethod
    def parse(body: dict[str, Any]) -> PlaylistIn:
        """The API's JSON body as the route validates it; ``Invalid`` names the first wrong field."""
        try:
            return PlaylistIn.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise Invalid(f"{'.'.join(str(part) for part in first['loc'])}: {first['msg']}") from None

    def check(self, principal: Principal, data: PlaylistIn, playlist_id: str | None = None) -> list[str]:
        """The ``warnings`` about this playlist that saving ``data`` (new, or over ``playlist_id``) would
        answer, after the same checks and errors as ``create``/``replace``; nothing is kept (a
        savepoint rolled back)."""
        with self.transaction() as t:
            nested = t.session.begin_nested()
            try:
                copy = data.model_copy(deep=True)
                if playlist_id is None:
                    playlist = domain.create(t.session, principal, copy)
                else:
                    playlist = domain.replace(t.session, principal, playlist_id, copy)
                t.session.flush()
                # Only those about this playlist: the others are there whatever is saved here.
                return [w for w in _warnings(t.session, playlist.commune) if f"({playlist.id})" in w]
            finally:
                nested.rollback()


#: The longest timeline asked for at once (days).
TIMELINE_MAX_DAYS = 14
#: A programme starting this much after its time is shown as delayed.
DELAY_SHOWN = timedelta(seconds=1)


def _nominal(schedule: scheduler.Schedule, at: datetime) -> datetime | None:
    """The latest scheduled start of a playlist at or before ``at`` (that local day's or the day before)."""
    local = at.astimezone(LOCAL_TZ)
    for day in (local.date(), local.date() - timedelta(days=1)):
        if schedule.occurs_on(day):
            earlier = [s for s in (datetime.combine(day, t, LOCAL_TZ) for t in schedule.times) if s <= at]
            if earlier:
                return max(earlier).astimezone(scheduler.UTC)
    return None


def _programmes(playlists: list[scheduler.PlaylistSpec], plays: list[scheduler.Play]) -> list[dict[str, Any]]:
    """Resolved plays grouped into programmes, each delayed one with what held it back."""
    specs = {p.id: p for p in playlists}
    programmes: list[dict[str, Any]] = []
    runs: dict[tuple[str, datetime | None], dict[str, Any]] = {}
    for play in plays:
        view = {"id": play.id, "bulletin_id": play.bulletin_id, "priority": play.priority, "reason": play.reason,
                "starts_at": play.starts_at, "ends_at": play.ends_at,
                "media_sha256": play.media.sha256 if play.media else None,
                "stream_url": play.stream.url if play.stream else None,
                "duration_s": round((play.ends_at - play.starts_at).total_seconds(), 1)}
        spec = specs.get(play.playlist_id or "")
        nominal = _nominal(spec.schedule, play.starts_at) if spec else None
        run = runs.get((spec.id, nominal)) if spec else None
        if run is not None:  # the same run, perhaps resumed after an emergency
            run["plays"].append(view)
            run["ends_at"] = max(run["ends_at"], play.ends_at)
            continue
        current = {"playlist_id": spec.id if spec else None, "name": spec.name if spec else None,
                   "priority": spec.priority if spec else None, "nominal": nominal, "emergency": spec is None,
                   "starts_at": play.starts_at, "ends_at": play.ends_at, "delay_s": 0, "delayed_by": [],
                   "plays": [view]}
        if spec:
            runs[(spec.id, nominal)] = current
        programmes.append(current)
    for prog in programmes:
        nominal = prog["nominal"]
        if nominal is None or prog["starts_at"] - nominal < DELAY_SHOWN:
            continue
        prog["delay_s"] = round((prog["starts_at"] - nominal).total_seconds())
        for other in programmes:
            if other is not prog and other["starts_at"] < prog["starts_at"] and other["ends_at"] > nominal:
                cause = {"kind": "emergency", "name": None} if other["emergency"] else {
                    "kind": "playlist", "name": other["name"]}
                if cause not in prog["delayed_by"]:
                    prog["delayed_by"].append(cause)
    return programmes
