"""Manifest polling: the hub's /api/v1/device/manifest against a bare FastAPI route.

Builds a store with 500 devices in 50 communes and 50 playlists, starts `hub serve` and the bare
route (bench/bare_server.py, a constant body of the same size) under the same uvicorn settings, and
measures requests per second of both on the 200 and the 304 path with wrk (a bounded Python load
generator where wrk is missing). Then a fleet simulation: 10,000 devices polling every 60 s with
jitter (time compressed to --fleet-seconds), latency percentiles and the server's CPU.

    .venv/bin/python -m bench.poll            # prints figures; the last line is one JSON object
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

from hub import accounts
from hub import bulletins as service
from hub.auth import DEVICE_PREFIX, Principal, hash_token, new_token
from hub.config import Settings
from hub.models import Device, utcnow
from hub.pipeline import enqueue
from hub.playlists import ItemIn, PlaylistIn, ScheduleIn, create as create_playlist
from hub.plugins import make_plugin_manager
from hub.runtime import Hub
from hub.testing import QuickMedia, free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent


def build_store(data: Path, devices: int, communes: int, playlists: int, fleet: int) -> dict:
    settings = Settings(data_dir=data, workers=0, disabled_plugins=["speech", "slides"])
    pm = make_plugin_manager(settings)
    pm.register(QuickMedia(seconds=30.0), name="quick-media")
    hub = Hub.open(settings, pm)
    tokens: list[tuple[str, str]] = []
    with hub.store.session() as session:
        codes = [f"C{n:03d}" for n in range(communes)]
        for code in codes:
            accounts.add_commune(session, code, f"Xã {code}")
        author = Principal(accounts.add_user(session, "tacgia", "editor")["id"], "tacgia", "editor")
        approver = Principal(accounts.add_user(session, "duyet", "editor")["id"], "duyet", "editor")
        bulletin_ids: dict[str, list[str]] = {code: [] for code in codes}
        now = utcnow()
        for n in range(communes * 2):
            code = codes[n % communes]
            content = service.Content(title=f"Bản tin {n}", body="Nội dung bản tin " * 20, priority="normal",
                                      channels=["speaker", "display", "web"], targets=[code],
                                      valid_from=now - timedelta(days=1), valid_until=now + timedelta(days=30))
            bulletin, _ = service.create(session, author, content)
            session.flush()
            service.transition(session, author, bulletin.id, "submit")
            service.transition(session, approver, bulletin.id, "approve")
            enqueue(session, bulletin, hub.pipeline.renderers, content.channels, content.priority)
            bulletin_ids[code].append(bulletin.id)
        for n in range(devices):
            record = accounts.add_device(session, f"loa-{n}", codes[n % communes], "speaker")
            tokens.append((record["id"], record["token"]))
    while hub.pipeline.run_one():
        pass
    with hub.store.session() as session:
        system = Principal("system", "bench", "admin")
        today = utcnow().date()
        for n in range(playlists):
            code = codes[n % communes]
            create_playlist(session, system, PlaylistIn(
                name=f"Chương trình {n}", commune=code,
                items=[ItemIn(bulletin_id=b) for b in bulletin_ids[code]],
                schedule=ScheduleIn(times=["06:00", "11:00", "17:30", "20:00"], start_date=today - timedelta(days=1))))
    # The fleet simulation's extra devices, inserted in bulk (add_device's per-row audit is not needed).
    fleet_tokens: list[str] = []
    with hub.store.session() as session:
        for n in range(fleet - devices):
            token = new_token(DEVICE_PREFIX)
            session.add(Device(name=f"fleet-{n}", commune=codes[n % communes], kind="speaker",
                               token_hash=hash_token(token)))
            fleet_tokens.append(token)
    hub.close()
    return {"tokens": [t for _, t in tokens], "fleet_tokens": [t for _, t in tokens] + fleet_tokens}


def start(cmd: list[str], env: dict, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        # Any answer means it is up: this request carries no token, so the hub answers 401.
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/api/v1/device/manifest", timeout=1).status_code,
                   timeout=30, what=f"{cmd} answering on port {port}", interval=0.1)
    except AssertionError:
        proc.kill()
        raise
    return proc


WRK_SCRIPT = """
local pairs_ = {%s}
local n = #pairs_
request = function()
  local p = pairs_[math.random(n)]
  local headers = {["Authorization"] = "Bearer " .. p[1]}
  if p[2] ~= "" then headers["If-None-Match"] = p[2] end
  return wrk.format("GET", "/api/v1/device/manifest", headers)
end
"""


def wrk_rps(port: int, pairs: list[tuple[str, str]], seconds: int, connections: int) -> dict:
    lua = WRK_SCRIPT % ",".join("{%s,%s}" % (json.dumps(t), json.dumps(e)) for t, e in pairs)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(lua)
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", handle.name,
                          f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout
    os.unlink(handle.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1, "s": 1000}
    return {"rps": rps, "errors": int(non2xx.group(1)) if non2xx else 0,
            "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else None}


async def _python_load(port: int, pairs: list[tuple[str, str]], seconds: float, connections: int) -> dict:
    deadline = time.monotonic() + seconds
    count = errors = 0
    latencies: list[float] = []

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal count, errors
        while time.monotonic() < deadline:
            token, etag = random.choice(pairs)
            headers = {"Authorization": f"Bearer {token}"}
            if etag:
                headers["If-None-Match"] = etag
            started = time.perf_counter()
            r = await client.get(f"http://127.0.0.1:{port}/api/v1/device/manifest", headers=headers)
            latencies.append(time.perf_counter() - started)
            count += 1
            errors += r.status_code not in (200, 304)

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=connections)) as client:
        await asyncio.gather(*(worker(client) for _ in range(connections)))
    latencies.sort()
    return {"rps": count / seconds, "errors": errors, "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000}


def measure(port: int, pairs, seconds: int, connections: int) -> dict:
    if shutil.which("wrk"):
        return wrk_rps(port, pairs, seconds, connections)
    return asyncio.run(_python_load(port, pairs, seconds, connections))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fleet(port: int, tokens: list[str], period: float, seconds: float, etags: dict[str, str]) -> dict:
    """Every device polls once per `period` (±20 % jitter) for `seconds`, sending back its ETag."""
    from bench._loadgen import schedule

    jobs = []
    for token in tokens:
        at = random.uniform(0, period)
        while at < seconds:
            jobs.append((at, token))
            at += period * random.uniform(0.8, 1.2)
    known = dict(etags)

    def headers_for(token: str):
        def build(_kind) -> dict[str, str]:
            headers = {"Authorization": f"Bearer {token}"}
            if token in known:
                headers["If-None-Match"] = known[token]
            return headers
        build.token = token
        return build

    def remember(headers, status, response_headers) -> None:
        if status == 200:
            known[headers.token] = response_headers["etag"]

    result = asyncio.run(schedule("127.0.0.1", port, "/api/v1/device/manifest",
                                  [(at, headers_for(token)) for at, token in jobs], 64, remember))
    latencies, lags = result["latencies"], result["lags"]
    return {"requests": len(latencies), "rate_per_s": round(len(latencies) / result["seconds"], 1),
            "statuses": result["statuses"],
            "p50_ms": round(statistics.median(latencies) * 1000, 2),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
            "client_lag_p99_ms": round(lags[int(len(lags) * 0.99)] * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=6, help="wrk duration per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved measurements of each case")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--fleet", type=int, default=10_000)
    parser.add_argument("--fleet-period", type=float, default=60.0)
    parser.add_argument("--fleet-seconds", type=float, default=60.0)
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="hub-bench-poll-"))
    try:
        print(f"building the store in {data} …", flush=True)
        made = build_store(data / "var", devices=500, communes=50, playlists=50, fleet=args.fleet)
        tokens = made["tokens"]
        hub_port, bare_port = free_port(), free_port()
        env = {**os.environ, "HUB_DATA_DIR": str(data / "var"), "HUB_WORKERS": "0",
               "HUB_DISABLED_PLUGINS": "speech,slides"}
        hub_proc = start([sys.executable, "-m", "hub.cli", "serve", "--port", str(hub_port), "--log-level",
                          "warning"], env, hub_port)
        try:
            # Warm every device's cache entry and learn its ETag and body size.
            etags, sizes = {}, []
            with httpx.Client(base_url=f"http://127.0.0.1:{hub_port}", timeout=30) as http:
                for token in tokens:
                    r = http.get("/api/v1/device/manifest", headers={"Authorization": f"Bearer {token}"})
                    r.raise_for_status()
                    etags[token] = r.headers["etag"]
                    sizes.append(len(r.content))
            size = int(statistics.mean(sizes))
            items = json.loads(r.content)["items"]
            print(f"{len(tokens)} devices warmed; manifest {size} bytes, {len(items)} items", flush=True)
            bare_proc = start([sys.executable, "-m", "bench.bare_server", "--port", str(bare_port), "--size",
                               str(size)], env, bare_port)
            try:
                bare_pairs_200 = [(t, "") for t in tokens]
                bare_pairs_304 = [(t, '"constant-etag-0123456789abcdef"') for t in tokens]
                hub_pairs_200 = [(t, "") for t in tokens]
                hub_pairs_304 = [(t, etags[t]) for t in tokens]
                # Interleaved rounds, median of each: the machine's other load hits both sides alike.
                runs: dict[str, list[dict]] = {}
                for _ in range(args.rounds):
                    for name, port, pairs in (("bare_200", bare_port, bare_pairs_200),
                                              ("hub_200", hub_port, hub_pairs_200),
                                              ("bare_304", bare_port, bare_pairs_304),
                                              ("hub_304", hub_port, hub_pairs_304)):
                        runs.setdefault(name, []).append(measure(port, pairs, args.seconds, args.connections))
                results = {}
                for name, samples in runs.items():
                    samples.sort(key=lambda r: r["rps"])
                    results[name] = samples[len(samples) // 2]
                    print(f"{name:9} {results[name]['rps']:9.1f} req/s (median of {len(samples)}: "
                          f"{', '.join(str(round(r['rps'])) for r in samples)})  "
                          f"p99 {results[name]['p99_ms']} ms  errors {results[name]['errors']}", flush=True)
            finally:
                bare_proc.terminate()
                bare_proc.wait(10)

            print(f"fleet: {args.fleet} devices, every {args.fleet_period:.0f} s ±20 %, for "
                  f"{args.fleet_seconds:.0f} s …", flush=True)
            cpu_before, wall_before = cpu_seconds(hub_proc.pid), time.monotonic()
            fleet_result = fleet(hub_port, made["fleet_tokens"], args.fleet_period, args.fleet_seconds, etags)
            cpu = (cpu_seconds(hub_proc.pid) - cpu_before) / (time.monotonic() - wall_before)
            fleet_result["server_cpu_percent_of_one_core"] = round(cpu * 100, 1)
            print(f"fleet: {fleet_result}", flush=True)
        finally:
            hub_proc.terminate()
            hub_proc.wait(10)
        figures = {
            "bench": "poll",
            "devices": len(tokens), "playlists": 50, "manifest_bytes": size, "items": len(items),
            "tool": "wrk" if shutil.which("wrk") else "python",
            **{f"{k}_rps": round(v["rps"], 1) for k, v in results.items()},
            "ratio_200": round(results["hub_200"]["rps"] / results["bare_200"]["rps"], 3),
            "ratio_304": round(results["hub_304"]["rps"] / results["bare_304"]["rps"], 3),
            "goal_ratio": 0.8,
            "fleet": fleet_result,
        }
        print(json.dumps(figures))
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
