"""Benchmark (issue 12): what one poll of the console's monitoring overview costs, the scheduled
counts resolved afresh (as before they were remembered) and remembered per schedule generation.

Builds a store (SQLite, migrated to head) with --communes (200) communes, --devices (2,000)
loudspeakers, 12 approved bulletins for every commune (90 s tones, hub.testing.QuickMedia), one playlist per commune (two bulletins
at 06:00, 11:00 and 17:30 every day) and the last 7 days' play reports (--plays-per-day, 2, per
device, through DeviceService.record_plays). Then, --repeat (20) times each, in-process timings of:

  airtime_7d            MonitoringService.airtime for the default week, the province: "fresh"
                        (the remembered scheduled counts dropped before each call: what every
                        call cost before they were remembered) and "remembered"
  live_fragment         GET /console/monitor/live (the fragment static/live.js fetches every 5 s),
                        a monitor signed in, through a TestClient of the real app, after (untimed)
                        a new play report and the scheduled counts dropped ("resolved": what every
                        poll cost before), after a new play report only ("new_play": the figures
                        changed, the fragment is drawn again), and with nothing changed
                        ("unchanged": the drawn fragment is reused)

    .venv/bin/python -m bench.monitor_poll     # prints figures; the last line is one JSON object
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from datetime import datetime, time as dtime, timedelta
from pathlib import Path
from typing import Any, Callable

from bench.airtime_report import _approved_bulletins, _stats
from hub import accounts
from hub.auth import Principal
from hub.clock import LOCAL_TZ, local_today
from hub.config import Settings
from hub.playlists import PlaylistIn
from hub.services.devices import Play

PASSWORD = "mật-khẩu-đủ-dài-cho-bench"


def build(hub, communes: int, devices: int, per_day: int) -> int:
    codes = [f"X{n:03d}" for n in range(communes)]
    with hub.store.session() as session:
        for code in codes:
            accounts.add_commune(session, code, f"Xã {code}")
    principals = []
    with hub.store.session() as session:
        for n in range(devices):
            code = codes[n % communes]
            record = accounts.add_device(session, f"loa-{n:04d}", code, "speaker")
            principals.append(Principal(id=record["id"], name=f"loa-{n:04d}", role="device", commune=code))
    bulletins = _approved_bulletins(hub, 12)
    while hub.pipeline.run_one():  # their audio (quick tones): a play report names what a device was given
        pass
    admin = Principal(id="bench-admin", name="bench-admin", role="admin", commune=None)
    today = local_today()
    for n, code in enumerate(codes):
        data = PlaylistIn.model_validate({
            "name": f"Bản tin {code}", "commune": code,
            "items": [{"bulletin_id": bulletins[n % 12]}, {"bulletin_id": bulletins[(n + 1) % 12]}],
            "schedule": {"times": ["06:00", "11:00", "17:30"], "start_date": (today - timedelta(days=7)).isoformat()}})
        hub.services.playlists.create(admin, data)
    rows = 0
    for index, device in enumerate(principals):
        plays = []
        for back in range(7):
            day = today - timedelta(days=back)
            for k in range(per_day):
                start = datetime.combine(day, dtime(6 + 5 * k, 0), LOCAL_TZ) + timedelta(seconds=index % 50)
                if start > datetime.now(LOCAL_TZ) - timedelta(minutes=5):
                    continue
                plays.append(Play(uuid.uuid4().hex, f"i{k}", bulletins[(index + k) % 12], start,
                                  start + timedelta(seconds=90), "played"))
        rows += hub.services.devices.record_plays(device, plays)["accepted"]
    return rows


def timed(call: Callable[[], Any], repeat: int, before: Callable[[], None] | None = None) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        if before is not None:
            before()
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return _stats(samples)


def main(argv: list[str] | None = None) -> int:
    from fastapi.testclient import TestClient

    from hub.app import create_app
    from hub.plugins import make_plugin_manager
    from hub.store import migrate
    from hub.testing import QuickMedia

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--communes", type=int, default=200)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--plays-per-day", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="monitor-poll-bench-") as folder:
        data = Path(folder) / "var"
        data.mkdir()
        migrate(f"sqlite:///{data / 'hub.db'}")
        settings = Settings(data_dir=data, workers=0, tts_engines=["espeak"], disabled_plugins=["speech", "slides"])
        pm = make_plugin_manager(settings)
        pm.register(QuickMedia(seconds=90.0), name="quick-media")
        app = create_app(settings, pm=pm)
        with TestClient(app) as client:
            hub = app.state.hub
            started = time.perf_counter()
            rows = build(hub, args.communes, args.devices, args.plays_per_day)
            print(f"{args.communes} communes, {args.devices:,} devices, {args.communes} playlists, "
                  f"{rows:,} play reports in {time.perf_counter() - started:.1f} s", flush=True)
            hub.services.directory.add_user(None, "giamsat", "monitor", None, password=PASSWORD)
            form = client.get("/login")
            import re
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
            r = client.post("/login", data={"username": "giamsat", "password": PASSWORD, "csrf_token": token},
                            follow_redirects=False)
            assert r.status_code == 303, r.text
            monitor = Principal(id="m", name="gs", role="monitor", commune=None)
            service = hub.services.monitoring
            forget = service._scheduled_cache.clear
            first, last = (local_today() - timedelta(days=6)).isoformat(), local_today().isoformat()
            rows7 = service.airtime(monitor, first, last)
            assert sum(r["scheduled"] for r in rows7) > 0 and sum(r["plays"] for r in rows7) == rows

            def poll() -> None:
                assert client.get("/console/monitor/live").status_code == 200

            def new_play() -> None:
                now = datetime.now(LOCAL_TZ)
                hub.services.devices.record_plays(sample, [Play(uuid.uuid4().hex, "i", played, now - timedelta(minutes=3),
                                                                now - timedelta(minutes=2), "played")])

            def new_play_and_resolve() -> None:
                new_play()
                forget()

            one = hub.services.history.offline(monitor, 1)[0]
            sample = Principal(id=one["id"], name=one["name"], role="device", commune=one["commune"])
            played = _approved_bulletins(hub, 1)[0]

            figures = {
                "airtime_7d_fresh": timed(lambda: service.airtime(monitor, first, last), args.repeat, forget),
                "airtime_7d_remembered": timed(lambda: service.airtime(monitor, first, last), args.repeat),
                "live_fragment_resolved": timed(poll, args.repeat, new_play_and_resolve),
                "live_fragment_new_play": timed(poll, args.repeat, new_play),
                "live_fragment_unchanged": timed(poll, args.repeat),
            }
        for name, value in figures.items():
            print(f"{name:26s} median {value['median_ms']:9.1f} ms   p95 {value['p95_ms']:9.1f} ms"
                  f"   (n={value['n']})", flush=True)
        for name in ("new_play", "unchanged"):
            figures[f"live_fragment_ratio_resolved_over_{name}"] = round(
                figures["live_fragment_resolved"]["median_ms"] / figures[f"live_fragment_{name}"]["median_ms"], 1)
        print(json.dumps({"communes": args.communes, "devices": args.devices, "play_reports": rows, **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
