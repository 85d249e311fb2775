"""Benchmark (issue 14): what checking play reports against what the device was given costs.

Builds a store (SQLite, migrated to head) with one commune, --bulletins (12) approved bulletins
rendered by QuickMedia (real artifacts with their audio lengths) and --devices (70) loudspeakers,
then sends each device one batch of 8 plays of those bulletins through DeviceService.record_plays
(the play-report path, roll-ups included; no HTTP), --repeat (3) rounds, twice: with the check
(`DeviceService._given`, `_checked`) and with both replaced by pass-throughs. In-process timing.

    .venv/bin/python -m bench.play_checks     # prints figures; the last line is one JSON object
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from hub import accounts
from hub.auth import Principal
from hub.bulletins import Content
from hub.clock import utcnow
from hub.config import Settings
from hub.plugins import make_plugin_manager
from hub.runtime import Hub
from hub.services import devices as devices_module
from hub.services.devices import DeviceService, Play
from hub.testing import QuickMedia


def build(hub: Hub, bulletins: int, devices: int) -> tuple[list[str], list[Principal]]:
    with hub.store.session() as session:
        accounts.add_commune(session, "A", "Xã A")
        author = accounts.add_user(session, "bench-author", "editor", None)
        approver = accounts.add_user(session, "bench-approver", "editor", None)
        made = [accounts.add_device(session, f"loa-{n:03d}", "A", "speaker") for n in range(devices)]
    who = [hub.services.directory.authenticate(r["token"]) for r in (author, approver)]
    ids = []
    for n in range(bulletins):
        view, _ = hub.services.bulletins.create(who[0], Content(
            title=f"Bản tin {n:02d}", body=f"Nội dung {n:02d}.", priority="normal", channels=["speaker"],
            targets=["A"]))
        hub.services.bulletins.submit(who[0], view["id"])
        ids.append(hub.services.bulletins.approve(who[1], view["id"])["id"])
    while hub.pipeline.run_one():
        pass
    principals = [Principal(id=r["id"], name=f"loa-{n:03d}", role="device", commune="A") for n, r in enumerate(made)]
    return ids, principals


def batches(hub: Hub, ids: list[str], principals: list[Principal], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        for index, device in enumerate(principals):
            now = utcnow()
            plays = [Play(uuid.uuid4().hex, "i", ids[(index + k) % len(ids)], now - timedelta(minutes=k + 2),
                          now - timedelta(minutes=k + 2) + timedelta(seconds=2), "played") for k in range(8)]
            started = time.perf_counter()
            hub.services.devices.record_plays(device, plays)
            samples.append(time.perf_counter() - started)
    return samples


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered) + 0.5) - 1))]
    return {"median_ms": round(statistics.median(ordered) * 1000, 2), "p95_ms": round(p95 * 1000, 2),
            "n": len(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bulletins", type=int, default=12)
    parser.add_argument("--devices", type=int, default=70)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-play-checks-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "var", workers=0, disabled_plugins=["speech", "slides"])
        pm = make_plugin_manager(settings)
        pm.register(QuickMedia(), name="quick-media")
        hub = Hub.open(settings, pm)
        try:
            ids, principals = build(hub, args.bulletins, args.devices)
            out = {"checked": _stats(batches(hub, ids, principals, args.repeat))}
            given, checked = DeviceService._given, devices_module._checked
            DeviceService._given = staticmethod(lambda session, device, bulletin_ids: dict.fromkeys(bulletin_ids))
            devices_module._checked = lambda play, known, now: play
            try:
                out["unchecked"] = _stats(batches(hub, ids, principals, args.repeat))
            finally:
                DeviceService._given, devices_module._checked = given, checked
        finally:
            hub.close()
    out["ratio_checked_over_unchecked"] = round(out["checked"]["median_ms"] / out["unchecked"]["median_ms"], 2)
    for name in ("checked", "unchecked"):
        s = out[name]
        print(f"play_report_8_{name:<10} median {s['median_ms']:7.2f} ms   p95 {s['p95_ms']:7.2f} ms   (n={s['n']})")
    print(f"ratio checked / unchecked (medians) {out['ratio_checked_over_unchecked']}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
