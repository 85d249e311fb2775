"""Console pages: monitoring (issue 12, items 3 and 4).

- ``/console/monitor`` (monitor, editor, admin; an operator sees only their commune): devices
  online now per commune, the ones offline longest first, airtime per commune and local day as a
  chart with the same numbers in a table, plays, emergency plays, scheduled vs played vs
  interrupted vs failed, and the links to the airtime exports;
- ``/console/monitor/communes/{code}``: one commune — each loudspeaker and board with its health
  and its plays today (the operator's view of the commune's devices), and its airtime per day;
- ``/console/monitor/bulletins/{id}``: where and when one bulletin played, and where it did not.

Each page's changing part is an include that ``…/live`` answers alone (the ``live`` macro of
monitor/_macros.html); static/live.js, the console's one poller (the home page's too), fetches
it every 5 s and swaps it in. Without script
the page is whole as served, and its date form is a plain GET. Reads go to
``hub.services.monitoring`` (devices, airtime) and ``hub.services.history`` (PlayHistory).
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from hub.plugin_api import Invalid, NotFound, local_today

from . import security
from .pages import Console, Seat

WATCHERS = ("monitor", "editor", "admin", "operator")
#: The chart's drawing box (SVG user units; CSS scales it to the column's width).
CHART_W, CHART_H = 300, 60
OFFLINE_SHOWN = 30
#: Drawn fragments kept at once (viewers × periods); past it they are dropped and drawn again.
FRAGMENTS_KEPT = 64


def chart(values: list[float], top: float, width: int = CHART_W, height: int = CHART_H) -> list[dict[str, float]]:
    """Bars of ``values`` against ``top`` in a ``width`` × ``height`` box: x, y, w, h per bar."""
    if not values:
        return []
    step = width / len(values)
    gap = min(2.0, step * 0.2)
    out = []
    for i, value in enumerate(values):
        h = 0.0 if top <= 0 else round(height * value / top, 2)
        if value > 0:
            h = max(h, 1.0)  # a play is never invisible
        out.append({"x": round(i * step + gap / 2, 2), "y": round(height - h, 2), "w": round(step - gap, 2), "h": h})
    return out


def summed(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("plays", "seconds", "emergency_plays", "interrupted", "failed", "scheduled", "bulletins")
    total = {k: sum(r.get(k, 0) for r in rows) for k in keys}
    total["seconds"] = round(total["seconds"], 1)
    total["complete"] = total["plays"] - total["interrupted"]
    return total


def register(router: APIRouter, console: Console) -> None:
    _ = console._
    #: Fragments already drawn, by what they were drawn from (see ``drawn``).
    fragments: dict[str, str] = {}

    def drawn(template: str, user: Any, values: dict[str, Any]) -> str:
        """The fragment for ``values``, drawn once: a province's overview is hundreds of kilobytes of
        tables and charts, and drawing it costs far more than the reads behind it, while a poll
        every 5 s mostly finds nothing changed. Keyed by a digest of everything the template reads
        (the values, the viewer's role and commune), so a change of any figure draws it again."""
        key = hashlib.sha256(repr((template, user.role, user.commune, sorted(values.items()))).encode()).hexdigest()
        html = fragments.get(key)
        if html is None:
            html = console.env.get_template(template).render(user=user, **values)
            if len(fragments) >= FRAGMENTS_KEPT:
                fragments.clear()
            fragments[key] = html
        return html

    async def watcher(request: Request) -> Seat | Response:
        seat = await console.seat(request)
        if isinstance(seat, Seat) and seat.user.role not in WATCHERS:
            return console.not_found(seat)
        return seat

    async def fragment_seat(request: Request) -> Seat | Response:
        """For ``…/live``: 401 when signed out (a script asks, not a person), 404 for other roles."""
        token, user = await console.signed_in(request)
        if token is None or user is None:
            return security.protect(Response(status_code=401))
        if user.role not in WATCHERS:
            return security.protect(Response(status_code=404))
        return Seat(token, user, security.session_csrf(token))

    def period(request: Request) -> tuple[date, date, str | None]:
        """The days asked for (``from``, ``to``; default the last seven), or the default and an error."""
        today = local_today()
        default = (today - timedelta(days=6), today)
        raw_from, raw_to = request.query_params.get("from"), request.query_params.get("to")
        try:
            first = date.fromisoformat(raw_from) if raw_from else default[0]
            last = date.fromisoformat(raw_to) if raw_to else default[1]
        except ValueError:
            return default[0], default[1], _("monitor.error.date")
        if last < first:
            return default[0], default[1], _("monitor.error.order")
        if (last - first).days > 92:
            return default[0], default[1], _("monitor.error.long")
        return first, last, None

    async def airtime(request: Request, seat: Seat, first: date, last: date,
                      commune: str | None = None) -> list[dict[str, Any]]:
        return await console.call(console.hub(request).services.monitoring.airtime, seat.user,
                                  first.isoformat(), last.isoformat(), commune)

    def days_of(first: date, last: date) -> list[date]:
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    def exports(first: date, last: date, commune: str | None = None) -> dict[str, str]:
        query = {"from": first.isoformat(), "to": last.isoformat()}
        if commune:
            query["commune"] = commune
        q = urlencode(query)
        return {"csv": f"/api/v1/monitor/airtime.csv?{q}", "xlsx": f"/api/v1/monitor/airtime.xlsx?{q}"}

    # --- /console/monitor -------------------------------------------------------------------------

    async def overview(request: Request, seat: Seat, first: date, last: date) -> dict[str, Any]:
        hub = console.hub(request)
        counts = await console.call(hub.services.history.online_counts, seat.user)
        offline = await console.call(hub.services.history.offline, seat.user, OFFLINE_SHOWN + 1)
        rows = await airtime(request, seat, first, last)
        played = await console.call(hub.services.history.played_bulletins, seat.user, first, last)
        names = {c["commune"]: c["name"] for c in counts}
        days = days_of(first, last)
        top = max([r["seconds"] for r in rows] + [0.0])
        by_commune: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_commune.setdefault(row["commune"], []).append(row)
        communes = []
        for code, items in by_commune.items():
            items.sort(key=lambda r: r["date"])
            communes.append({"code": code, "name": names.get(code, code), "rows": items, "total": summed(items),
                             "bars": chart([r["seconds"] for r in items], top)})
        province_days = []
        for day in days:
            same = [r for r in rows if r["date"] == day.isoformat()]
            province_days.append({"date": day, **summed(same)})
        day_top = max([d["seconds"] for d in province_days] + [0.0])
        return {
            "counts": counts, "online": sum(c["online"] for c in counts), "devices": sum(c["devices"] for c in counts),
            "offline": offline[:OFFLINE_SHOWN], "more_offline": len(offline) > OFFLINE_SHOWN,
            "communes": communes, "total": summed(rows), "days": days, "province_days": province_days,
            "day_bars": chart([d["seconds"] for d in province_days], day_top, CHART_W, 120),
            "day_top": day_top, "top": top, "first": first, "last": last, "played": played,
            "query": urlencode({"from": first.isoformat(), "to": last.isoformat()}),
        }

    @router.get("/console/monitor")
    async def monitor(request: Request) -> Response:
        seat = await watcher(request)
        if not isinstance(seat, Seat):
            return seat
        first, last, error = period(request)
        values = await overview(request, seat, first, last)
        return console.page("monitor/index.html", 422 if error else 200, seat=seat, section="monitor", error=error,
                            exports=exports(first, last), **values)

    @router.get("/console/monitor/live")
    async def monitor_live(request: Request) -> Response:
        seat = await fragment_seat(request)
        if not isinstance(seat, Seat):
            return seat
        first, last, _error = period(request)
        html = drawn("monitor/index_live.html", seat.user, await overview(request, seat, first, last))
        return security.protect(HTMLResponse(html))

    # --- /console/monitor/communes/{code} ---------------------------------------------------------

    async def titles(request: Request, seat: Seat, ids: set[str]) -> dict[str, str]:
        service = console.hub(request).services.bulletins
        found = {}
        for bid in ids:
            try:
                found[bid] = (await console.call(service.get, seat.user, bid))["title"]
            except NotFound:
                continue
        return found

    async def commune_values(request: Request, seat: Seat, code: str, first: date, last: date) -> dict[str, Any] | None:
        hub = console.hub(request)
        commune = await console.call(hub.services.directory.commune, code)
        if commune is None or not seat.user.sees_commune(code):
            return None
        devices = await console.call(hub.services.history.commune_devices, seat.user, code)
        rows = await airtime(request, seat, first, last, code)
        rows.sort(key=lambda r: r["date"])
        top = max([r["seconds"] for r in rows] + [0.0])
        names = await titles(request, seat, {p["bulletin_id"] for d in devices for p in d["plays"] if p["bulletin_id"]}
                             | {d["showing"] for d in devices if d.get("showing")})
        for device in devices:
            device["today"] = summed([{"plays": int(p["result"] != "failed"), "seconds": p["seconds"]
                                       if p["result"] != "failed" else 0,
                                       "interrupted": int(p["result"] == "interrupted"),
                                       "failed": int(p["result"] == "failed")} for p in device["plays"]])
            device["last_play"] = device["plays"][-1] if device["plays"] else None
        return {"commune": commune, "devices": devices, "rows": rows, "total": summed(rows), "titles": names,
                "bars": chart([r["seconds"] for r in rows], top, CHART_W, 120), "top": top, "first": first,
                "days": [date.fromisoformat(r["date"]) for r in rows],
                "last": last, "online": sum(d["online"] for d in devices),
                "query": urlencode({"from": first.isoformat(), "to": last.isoformat()})}

    @router.get("/console/monitor/communes/{code}")
    async def commune_page(request: Request, code: str) -> Response:
        seat = await watcher(request)
        if not isinstance(seat, Seat):
            return seat
        first, last, error = period(request)
        values = await commune_values(request, seat, code, first, last)
        if values is None:
            return console.not_found(seat)
        return console.page("monitor/commune.html", 422 if error else 200, seat=seat, section="monitor", error=error,
                            exports=exports(first, last, code), **values)

    @router.get("/console/monitor/communes/{code}/live")
    async def commune_live(request: Request, code: str) -> Response:
        seat = await fragment_seat(request)
        if not isinstance(seat, Seat):
            return seat
        first, last, _error = period(request)
        values = await commune_values(request, seat, code, first, last)
        if values is None:
            return security.protect(Response(status_code=404))
        html = drawn("monitor/commune_live.html", seat.user, values)
        return security.protect(HTMLResponse(html))

    # --- /console/monitor/bulletins/{id} ----------------------------------------------------------

    async def bulletin_values(request: Request, seat: Seat, bulletin_id: str) -> dict[str, Any] | None:
        hub = console.hub(request)
        try:
            bulletin = await console.call(hub.services.bulletins.get, seat.user, bulletin_id)
        except (NotFound, Invalid):
            return None
        plays = await console.call(hub.services.history.bulletin_plays, seat.user, bulletin_id)
        counts = {c["commune"]: c for c in await console.call(hub.services.history.online_counts, seat.user)}
        targets = bulletin.get("targets") or []
        wanted = list(counts) if "*" in targets else [t for t in targets if t in counts]
        where: dict[str, dict[str, Any]] = {}
        for play in plays:
            place = where.setdefault(play["commune"], {"plays": 0, "seconds": 0.0, "failed": 0, "interrupted": 0,
                                                       "played_by": set(), "first": None, "last": None})
            if play["result"] == "failed":
                place["failed"] += 1
                continue
            place["plays"] += 1
            place["interrupted"] += play["result"] == "interrupted"
            place["seconds"] = round(place["seconds"] + play["seconds"], 1)
            place["played_by"].add(play["device"])
            moment = play["started_at"]
            place["first"] = min(place["first"] or moment, moment)
            place["last"] = max(place["last"] or moment, moment)
        played = []
        for code in sorted(set(wanted) | set(where)):
            place = where.get(code) or {"plays": 0, "seconds": 0.0, "failed": 0, "interrupted": 0,
                                        "played_by": set(), "first": None, "last": None}
            info = counts.get(code, {"name": code, "devices": 0})
            played.append({"code": code, "name": info["name"], "devices": info["devices"],
                           "targeted": code in wanted, **place, "played_by": len(place["played_by"])})
        return {"bulletin": bulletin, "plays": plays, "places": [p for p in played if p["plays"]],
                "missing": [p for p in played if not p["plays"] and p["targeted"]], "names": {
                    code: c["name"] for code, c in counts.items()}}

    @router.get("/console/monitor/bulletins/{bulletin_id}")
    async def bulletin_page(request: Request, bulletin_id: str) -> Response:
        seat = await watcher(request)
        if not isinstance(seat, Seat):
            return seat
        values = await bulletin_values(request, seat, bulletin_id)
        if values is None:
            return console.not_found(seat)
        return console.page("monitor/bulletin.html", seat=seat, section="monitor", **values)

    @router.get("/console/monitor/bulletins/{bulletin_id}/live")
    async def bulletin_live(request: Request, bulletin_id: str) -> Response:
        seat = await fragment_seat(request)
        if not isinstance(seat, Seat):
            return seat
        values = await bulletin_values(request, seat, bulletin_id)
        if values is None:
            return security.protect(Response(status_code=404))
        html = console.env.get_template("monitor/bulletin_live.html").render(user=seat.user, **values)
        return security.protect(HTMLResponse(html))
