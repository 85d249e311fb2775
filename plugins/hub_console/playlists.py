"""Console pages: the commune's schedule and its playlists (issue 12, items 1 and 2).

- ``GET /console/playlists`` (the operator's home for schedules): for one commune (an operator's
  own; others pick one), what its loudspeakers play today and the next days as the scheduler
  resolves it (``PlaylistService.timeline``), emergencies and priority bulletins marked, delayed
  programmes with what held them back, the scheduler's conflict warnings, and beside today's plays
  what the devices reported playing (``PlayHistory.commune_devices``); then the commune's playlists.
- ``GET/POST /console/playlists/new`` and ``/console/playlists/{id}``: the form (name, items from
  the commune's approved bulletins with a search and a player each, order by up/down buttons,
  days, times, dates, exception dates, enabled, priority). Every button posts the whole form, so it
  works without script. "Kiểm tra" shows the warnings saving would give (``PlaylistService.check``,
  nothing saved); "Lưu" checks too and, when there are warnings, asks once more before saving.
  File-made playlists (``playlists/*.yaml``) and a monitor's view are read-only.
  A relay (tiếp sóng) is added from its URL and length in minutes ("Thêm tiếp sóng"); "Kiểm tra
  luồng" asks ``PlaylistService.check_stream`` whether the station answers (the one time the hub
  connects to such a URL; private addresses are refused), and shows what it found.

Everything goes through ``hub.services`` (playlists, bulletins, history, directory), as the API does.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from hub.plugin_api import LOCAL_TZ, Conflict, Forbidden, Invalid, NotFound, local_today, utcnow

from .pages import Console, Seat

SEE = ("admin", "editor", "operator", "monitor")
WRITE = ("admin", "editor", "operator")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAYS_SHOWN = 7
PICKED_MAX = 200
CANDIDATES = 20
#: A relay item in the form: ``stream:<seconds>:<url>``.
STREAM_PREFIX = "stream:"
RELAY_MAX_MINUTES = 360
DONE = ("saved", "deleted")

_PAIR = re.compile(r'^Playlists "(?P<a>.*)" \([^()\s]+\) and "(?P<b>.*)" \([^()\s]+\) overlap (?P<n>\d+) times? '
                   r"in the window, first at (?P<at>\d{4}-\d\d-\d\d \d\d:\d\d) Asia/Ho_Chi_Minh")
_SELF = re.compile(r'^Playlist "(?P<a>.*)" \([^()\s]+\) overlaps itself (?P<n>\d+) times? in the window, '
                   r"first at (?P<at>\d{4}-\d\d-\d\d \d\d:\d\d) Asia/Ho_Chi_Minh")


def warning_vi(_: Any, text: str) -> str:
    """The scheduler's conflict warning (English, hub/scheduler.py ``conflicts``) in Vietnamese;
    one it does not know is shown as the API gives it."""
    for pattern, key in ((_PAIR, "pair"), (_SELF, "self")):
        found = pattern.match(text)
        if found:
            at = datetime.strptime(found["at"], "%Y-%m-%d %H:%M")
            return _(f"playlists.warning.{key}", a=found["a"], b=found.groupdict().get("b", ""), n=found["n"],
                     at=at.strftime("%H:%M %d/%m/%Y"))
    return text


def _text(form: Any, name: str, limit: int = 200) -> str:
    value = form.get(name)
    return value.strip()[:limit].replace("\x00", "") if isinstance(value, str) else ""


def _date_of(text: str) -> date | None:
    """``2026-12-24`` or ``24/12/2026``; None if neither."""
    text = text.strip()
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def values_of(playlist: dict[str, Any] | None, commune: str) -> dict[str, Any]:
    """The form's fields for a playlist (or a new one for ``commune``)."""
    if playlist is None:
        return {"name": "", "commune": commune, "items": [], "days": list(DAYS), "times": "",
                "start_date": local_today().isoformat(), "end_date": "", "exceptions": "", "enabled": True,
                "priority": "0", "stream_url": "", "stream_minutes": ""}
    schedule = playlist["schedule"]
    items = [f"media:{i['media']}" if "media" in i else
             f"{STREAM_PREFIX}{i['duration_s']}:{i['stream_url']}" if "stream_url" in i else
             i.get("bulletin_id", "") for i in playlist["items"]]
    return {"name": playlist["name"], "commune": playlist["commune"], "items": items,
            "days": list(schedule.get("days") or DAYS), "times": ", ".join(schedule.get("times") or ()),
            "start_date": schedule.get("start_date") or "", "end_date": schedule.get("end_date") or "",
            "exceptions": "\n".join(schedule.get("exceptions") or ()), "enabled": bool(playlist["enabled"]),
            "priority": str(playlist["priority"]), "stream_url": "", "stream_minutes": ""}


def values_from(form: Any, commune: str) -> dict[str, Any]:
    items = [v.strip()[:2100 if v.strip().startswith(STREAM_PREFIX) else 80] for v in form.getlist("items")
             if isinstance(v, str) and v.strip()][:PICKED_MAX]
    return {"name": _text(form, "name"), "commune": commune, "items": items,
            "days": [d for d in DAYS if d in form.getlist("days")], "times": _text(form, "times", 600),
            "start_date": _text(form, "start_date", 20), "end_date": _text(form, "end_date", 20),
            "exceptions": _text(form, "exceptions", 8000), "enabled": form.get("enabled") == "true",
            "priority": _text(form, "priority", 10), "stream_url": _text(form, "stream_url", 2000),
            "stream_minutes": _text(form, "stream_minutes", 10)}


def payload(_: Any, values: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """The API's JSON body from the form's fields, or the Vietnamese errors that stop it."""
    errors: list[str] = []
    if not values["name"]:
        errors.append(_("playlists.error.name"))
    if not values["items"]:
        errors.append(_("playlists.error.items"))
    if not values["days"]:
        errors.append(_("playlists.error.days"))
    times = [t for t in re.split(r"[\s,;]+", values["times"]) if t]
    if not times:
        errors.append(_("playlists.error.times_missing"))
    elif any(not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", t) for t in times):
        errors.append(_("playlists.error.times"))
    elif len(set(times)) != len(times):
        errors.append(_("playlists.error.times_repeat"))
    start = _date_of(values["start_date"]) if values["start_date"] else None
    if start is None:
        errors.append(_("playlists.error.start_date"))
    end = None
    if values["end_date"]:
        end = _date_of(values["end_date"])
        if end is None:
            errors.append(_("playlists.error.end_date"))
        elif start is not None and end < start:
            errors.append(_("playlists.error.order"))
    exceptions = []
    for word in (w for w in re.split(r"[\s,;]+", values["exceptions"]) if w):
        day = _date_of(word)
        if day is None:
            errors.append(_("playlists.error.exception", value=word[:20]))
            break
        exceptions.append(day.isoformat())
    try:
        priority = int(values["priority"] or "0")
        if not 0 <= priority <= 100:
            raise ValueError
    except ValueError:
        errors.append(_("playlists.error.priority"))
        priority = 0
    if errors:
        return None, errors
    items = [{"media": v[6:]} if v.startswith("media:") else relay_of(v) if v.startswith(STREAM_PREFIX)
             else {"bulletin_id": v} for v in values["items"]]
    return {"name": values["name"], "commune": values["commune"], "items": items, "enabled": values["enabled"],
            "priority": priority,
            "schedule": {"days": values["days"], "times": times, "start_date": start.isoformat(),
                         "end_date": end.isoformat() if end else None,
                         "exceptions": sorted(set(exceptions))}}, []


def relay_of(value: str) -> dict[str, Any]:
    """A form's ``stream:<seconds>:<url>`` as the API's relay item (the service checks it)."""
    seconds, _, url = value[len(STREAM_PREFIX):].partition(":")
    return {"stream_url": url, "duration_s": int(seconds) if seconds.isdigit() else 0}


def relay_from(_: Any, values: dict[str, Any]) -> tuple[str | None, str | None]:
    """The relay the form's two fields describe, as an item value, or the Vietnamese error."""
    url, minutes = values["stream_url"], values["stream_minutes"].replace(",", ".")
    if not re.match(r"(?i)^https?://[^\s/?#]+", url) or any(c.isspace() for c in url):
        return None, _("playlists.relay.error.url")
    try:
        seconds = round(float(minutes) * 60)
    except ValueError:
        seconds = 0
    if not 1 <= seconds <= RELAY_MAX_MINUTES * 60:
        return None, _("playlists.relay.error.minutes", most=RELAY_MAX_MINUTES)
    return f"{STREAM_PREFIX}{seconds}:{url}", None


def moved(items: list[str], action: str) -> list[str]:
    """The items after an ``up:i``, ``down:i``, ``remove:i`` or ``add:<bulletin id>`` button."""
    verb, _, arg = action.partition(":")
    items = list(items)
    if verb == "add":
        if arg and arg not in items and len(items) < PICKED_MAX:
            items.append(arg[:80])
        return items
    try:
        i = int(arg)
    except ValueError:
        return items
    if not 0 <= i < len(items):
        return items
    if verb == "remove":
        del items[i]
    elif verb == "up" and i > 0:
        items[i - 1], items[i] = items[i], items[i - 1]
    elif verb == "down" and i < len(items) - 1:
        items[i + 1], items[i] = items[i], items[i + 1]
    return items


def digest(warnings: list[str]) -> str:
    """What the person confirmed: the warnings without the playlists' ids (a check makes a new one
    for a playlist not yet saved, each time)."""
    plain = (re.sub(r"\([^()\s]+\)", "", w) for w in warnings)
    return hashlib.sha256("\n".join(plain).encode()).hexdigest()[:32]


def schedule_summary(_: Any, schedule: dict[str, Any]) -> str:
    days = schedule.get("days") or DAYS
    named = _("playlists.every_day") if len(days) == 7 else ", ".join(_(f"playlists.day.{d}") for d in days)
    return f"{named} · {', '.join(schedule.get('times') or ())}"


def register(router: APIRouter, console: Console) -> None:
    _ = console._

    def may_write(user: Any, commune: str) -> bool:
        return user.role in ("admin", "editor") or (user.role == "operator" and user.commune == commune)

    async def seat_for(request: Request) -> Seat | Response:
        seat = await console.seat(request)
        if isinstance(seat, Seat) and seat.user.role not in SEE:
            return console.not_found(seat)
        return seat

    async def communes(request: Request, user: Any) -> list[dict[str, Any]]:
        rows = await console.call(console.hub(request).services.directory.communes)
        return [c for c in rows if user.role != "operator" or c["code"] == user.commune]

    # --- the timeline -----------------------------------------------------------------------------

    @router.get("/console/playlists")
    async def schedule_page(request: Request) -> Response:
        seat = await seat_for(request)
        if not isinstance(seat, Seat):
            return seat
        hub, user, params = console.hub(request), seat.user, request.query_params
        shown = await communes(request, user)
        asked = (params.get("commune") or "")[:32]
        if user.role == "operator":
            commune = user.commune
            if asked and asked != commune:
                return console.not_found(seat)
        else:
            commune = asked or (shown[0]["code"] if shown else "")
        names = {c["code"]: c["name"] for c in shown}
        if commune not in names:
            return console.not_found(seat)
        error = None
        today = local_today()
        first = _date_of(params.get("from") or "") if params.get("from") else today
        if first is None or abs((first - today).days) > 366:
            error, first = _("playlists.error.from"), today
        try:
            timeline = await console.call(hub.services.playlists.timeline, user, commune, first, DAYS_SHOWN)
        except NotFound:
            return console.not_found(seat)
        devices = await console.call(hub.services.history.commune_devices, user, commune, today)
        speakers = [d for d in devices if d["kind"] == "speaker"]
        # What actually played, beside what was scheduled: reports name the manifest item they played.
        reported: dict[str, list[dict[str, Any]]] = {}
        for device in speakers:
            for play in device["plays"]:
                if play.get("item_id"):
                    reported.setdefault(play["item_id"], []).append({"device": device["name"],
                                                                      "result": play["result"],
                                                                      "heard_s": play.get("heard_s")})
        days = []
        for n in range(DAYS_SHOWN):
            day = first + timedelta(days=n)
            days.append({"date": day, "weekday": _(f"playlists.day.{DAYS[day.weekday()]}"), "today": day == today,
                         "programmes": [p for p in timeline["programmes"]
                                        if p["starts_at"].astimezone(LOCAL_TZ).date() == day]})
        playlists = await console.call(hub.services.playlists.listing, user, commune)
        for p in playlists:
            p["summary"] = schedule_summary(_, p["schedule"])
        query = {"commune": commune}
        done = params.get("done") if params.get("done") in DONE else None
        return console.page("playlists/index.html", seat=seat, section="playlists", commune=commune,
                            commune_name=names[commune], communes=shown, days=days, titles=timeline["bulletins"],
                            warnings=[warning_vi(_, w) for w in timeline["warnings"]], speakers=speakers,
                            reported=reported, playlists=playlists, may_write=may_write(user, commune),
                            error=error, first=first, done=done, now_utc=utcnow(),
                            earlier=urlencode({**query, "from": (first - timedelta(days=DAYS_SHOWN)).isoformat()}),
                            later=urlencode({**query, "from": (first + timedelta(days=DAYS_SHOWN)).isoformat()}),
                            new_link="/console/playlists/new?" + urlencode(query))

    # --- the form ---------------------------------------------------------------------------------

    async def picker(request: Request, user: Any, values: dict[str, Any], q: str) -> dict[str, Any]:
        """The chosen items with their titles and audio, and the approved bulletins to add."""
        bulletins = console.hub(request).services.bulletins

        def audio(bulletin_id: str) -> dict[str, Any] | None:
            try:
                found = [a for a in bulletins.artifacts(user, bulletin_id) if a.get("kind") == "audio"]
            except (NotFound, Forbidden):
                return None
            return found[0] if found else None

        def gather() -> dict[str, Any]:
            rows, _total = bulletins.listing(user, status="approved", commune=values["commune"], q=q or None,
                                             limit=CANDIDATES)
            uploads = console.hub(request).services.media.programmes(
                user, [v[6:] for v in values["items"] if v.startswith("media:")])
            chosen = []
            for value in values["items"]:
                if value.startswith(STREAM_PREFIX):
                    relay = relay_of(value)
                    chosen.append({"value": value, "priority": "normal", "media": True, "stream": relay["stream_url"],
                                   "title": _("playlists.relay.item", url=relay["stream_url"]),
                                   "duration_s": relay["duration_s"], "audio": None, "missing": False})
                    continue
                if value.startswith("media:"):
                    found = uploads.get(value[6:])
                    chosen.append({"value": value, "priority": "normal", "media": True,
                                   "title": (found or {}).get("title") or _("playlists.item.media"),
                                   "duration_s": (found or {}).get("duration_s"),
                                   "audio": {"url": f"/media/{value[6:]}"} if found else None,
                                   "missing": found is None})
                    continue
                try:
                    b = bulletins.get(user, value)
                except (NotFound, Forbidden, Invalid):
                    chosen.append({"value": value, "title": _("playlists.item.unknown"), "priority": "normal",
                                   "audio": None, "missing": True})
                    continue
                chosen.append({"value": value, "title": b["title"], "priority": b["priority"], "audio": audio(value),
                               "missing": b["status"] != "approved"})
            offered = [{"id": b["id"], "title": b["title"], "priority": b["priority"], "audio": audio(b["id"]),
                        "picked": b["id"] in values["items"]} for b in rows]
            return {"chosen": chosen, "offered": offered}

        return await console.call(gather)

    async def form_page(request: Request, seat: Seat, values: dict[str, Any], *, playlist: dict[str, Any] | None,
                        errors: list[str] | None = None, warnings: list[str] | None = None,
                        checked: str | None = None, q: str = "", status: int = 200,
                        stream_check: dict[str, Any] | None = None) -> Response:
        shown = await communes(request, seat.user)
        names = {c["code"]: c["name"] for c in shown}
        pick = await picker(request, seat.user, values, q)
        action = f"/console/playlists/{playlist['id']}" if playlist else "/console/playlists/new"
        return console.page("playlists/form.html", status, seat=seat, section="playlists", values=values,
                            playlist=playlist, errors=errors or [], action=action, days=DAYS, q=q,
                            commune_name=names.get(values["commune"], values["commune"]),
                            warnings=None if warnings is None else [warning_vi(_, w) for w in warnings],
                            checked=checked, stream_check=stream_check, **pick)

    async def read_only(request: Request, seat: Seat, playlist: dict[str, Any]) -> Response:
        pick = await picker(request, seat.user, values_of(playlist, playlist["commune"]), "")
        shown = await communes(request, seat.user)
        names = {c["code"]: c["name"] for c in shown}
        return console.page("playlists/show.html", seat=seat, section="playlists", playlist=playlist,
                            chosen=pick["chosen"], commune_name=names.get(playlist["commune"], playlist["commune"]),
                            summary=schedule_summary(_, playlist["schedule"]),
                            warnings=[warning_vi(_, w) for w in playlist.get("warnings") or ()])

    async def stream_report(request: Request, user: Any, url: str) -> dict[str, Any]:
        """What "Kiểm tra luồng" found, in Vietnamese: ``ok`` and ``text``."""
        if not url:
            return {"ok": False, "text": _("playlists.relay.error.url")}
        try:
            found = await console.call(console.hub(request).services.playlists.check_stream, user, url)
        except Invalid as exc:
            detail = getattr(exc, "detail", str(exc))
            if "the hub does not connect there" in detail:
                return {"ok": False, "text": _("playlists.relay.check.refused")}
            return {"ok": False, "text": _("playlists.relay.error.url")}
        if found.get("ok"):
            return {"ok": True, "text": _("playlists.relay.check.ok", status=found["status"],
                                          type=found.get("content_type") or "?",
                                          bytes=f"{found['bytes_read']:,}".replace(",", "."))}
        status = found.get("status")
        if status is None:
            why = _("playlists.relay.check.unreachable", detail=found.get("error") or "?")
        elif not 200 <= status < 300:
            why = _("playlists.relay.check.status", status=status)
        else:
            why = _("playlists.relay.check.not_audio")
        return {"ok": False, "text": _("playlists.relay.check.failed", detail=why)}

    def error_text(exc: Exception) -> str:
        detail = getattr(exc, "detail", str(exc))
        found = re.match(r"items\[(\d+)\]", detail)
        if found:
            return _("playlists.error.item", n=int(found[1]) + 1)
        return _("playlists.error.generic", detail=detail)

    async def submit(request: Request, playlist_id: str | None) -> Response:
        posted = await console.posted(request)
        if not isinstance(posted, tuple):
            return posted
        seat, form = posted
        user, services = seat.user, console.hub(request).services
        playlist = None
        if playlist_id is not None:
            try:
                playlist = await console.call(services.playlists.get, user, playlist_id)
            except NotFound:
                return console.not_found(seat)
            commune = playlist["commune"]
            if not may_write(user, commune) or playlist["origin"] == "file":
                return await read_only(request, seat, playlist) if user.role in SEE else console.not_found(seat)
        else:
            commune = _text(form, "commune", 32) if user.role != "operator" else user.commune
            if user.role not in WRITE or commune not in {c["code"] for c in await communes(request, user)}:
                return console.not_found(seat)
        values = values_from(form, commune)
        action = _text(form, "action", 120)
        q = _text(form, "q")
        page = dict(playlist=playlist, q=q)
        if action == "stream_add":
            item, problem = relay_from(_, values)
            if problem:
                return await form_page(request, seat, values, errors=[problem], status=422, **page)
            if len(values["items"]) < PICKED_MAX:
                values["items"].append(item)
            values["stream_url"] = values["stream_minutes"] = ""
            return await form_page(request, seat, values, **page)
        if action == "stream_check":
            return await form_page(request, seat, values, stream_check=await stream_report(request, user, values["stream_url"]),
                                   **page)
        if action.split(":")[0] in ("add", "up", "down", "remove"):
            values["items"] = moved(values["items"], action)
            return await form_page(request, seat, values, **page)
        if action not in ("check", "save"):  # search, or Enter in a field
            return await form_page(request, seat, values, **page)
        body, errors = payload(_, values)
        if errors:
            return await form_page(request, seat, values, errors=errors, status=422, **page)
        try:
            data = services.playlists.parse(body)
            warnings = await console.call(services.playlists.check, user, data, playlist_id)
        except NotFound:
            return console.not_found(seat)
        except (Invalid, Conflict, Forbidden) as exc:
            return await form_page(request, seat, values, errors=[error_text(exc)], status=422, **page)
        seen = digest(warnings)
        if action == "check" or (warnings and _text(form, "warnings_seen", 64) != seen):
            return await form_page(request, seat, values, warnings=warnings, checked=seen if warnings else None,
                                   **page)
        try:
            if playlist_id is None:
                saved = await console.call(services.playlists.create, user, data)
            else:
                saved = await console.call(services.playlists.replace, user, playlist_id, data)
        except NotFound:
            return console.not_found(seat)
        except (Invalid, Conflict, Forbidden) as exc:
            return await form_page(request, seat, values, errors=[error_text(exc)], status=422, **page)
        return console.redirect("/console/playlists?" + urlencode({"commune": commune, "done": "saved"})
                                + f"#playlist-{saved['id']}")

    @router.get("/console/playlists/new")
    async def new_form(request: Request) -> Response:
        seat = await seat_for(request)
        if not isinstance(seat, Seat):
            return seat
        shown = await communes(request, seat.user)
        commune = seat.user.commune if seat.user.role == "operator" else (
            request.query_params.get("commune") or (shown[0]["code"] if shown else ""))
        if seat.user.role not in WRITE or commune not in {c["code"] for c in shown}:
            return console.not_found(seat)
        return await form_page(request, seat, values_of(None, commune), playlist=None)

    @router.post("/console/playlists/new")
    async def create(request: Request) -> Response:
        return await submit(request, None)

    @router.get("/console/playlists/{playlist_id}")
    async def show(request: Request, playlist_id: str) -> Response:
        seat = await seat_for(request)
        if not isinstance(seat, Seat):
            return seat
        try:
            playlist = await console.call(console.hub(request).services.playlists.get, seat.user, playlist_id)
        except NotFound:
            return console.not_found(seat)
        if playlist["origin"] == "file" or not may_write(seat.user, playlist["commune"]):
            return await read_only(request, seat, playlist)
        # The commune's warnings are on the timeline; here they come from "Kiểm tra" and "Lưu".
        return await form_page(request, seat, values_of(playlist, playlist["commune"]), playlist=playlist)

    @router.post("/console/playlists/{playlist_id}")
    async def update(request: Request, playlist_id: str) -> Response:
        return await submit(request, playlist_id)

    @router.post("/console/playlists/{playlist_id}/delete")
    async def delete(request: Request, playlist_id: str) -> Response:
        posted = await console.posted(request)
        if not isinstance(posted, tuple):
            return posted
        seat, form = posted
        playlists = console.hub(request).services.playlists
        try:
            playlist = await console.call(playlists.get, seat.user, playlist_id)
        except NotFound:
            return console.not_found(seat)
        if playlist["origin"] == "file" or not may_write(seat.user, playlist["commune"]):
            return console.not_found(seat)
        if form.get("confirm") != "yes":
            return await form_page(request, seat, values_of(playlist, playlist["commune"]), playlist=playlist,
                                   errors=[_("playlists.error.confirm_delete")], status=422)
        try:
            await console.call(playlists.delete, seat.user, playlist_id)
        except NotFound:
            return console.not_found(seat)
        return console.redirect("/console/playlists?" + urlencode({"commune": playlist["commune"], "done": "deleted"}))
