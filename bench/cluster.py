"""Several processes as one hub (issue 13): nginx (TLS) + PostgreSQL + two `hub serve` + one
`hub worker` on this machine, against one `hub serve` on SQLite with the same load.

1. A fleet polls its manifest through nginx, every ``--period`` s ±20 % (with its ETag), while
   ``--streams`` of its devices hold event streams: poll p50/p99 and each process's CPU seconds.
2. Halfway through, an emergency for every commune is approved: time until every stream has the
   event, and until every one of those devices has downloaded its audio through nginx.
3. ``/media/`` through nginx — a public file (nginx sends it from the hub's link without asking)
   and a device's file (the hub says yes, nginx sends it) — against nginx sending the same file
   from a plain static location, side by side, the same requests.
4. The same load (streams, polls, the emergency) on one `hub serve` with SQLite (no nginx, no TLS),
   for the ratio.

All timings are in-process timings of this load generator (loopback, one machine: the generator
shares the two cores with what it measures). The defaults fit this machine in about two minutes;
the issue's figure is ``--devices 20000 --streams 2000``.

    .venv/bin/python -m bench.cluster [--devices 2000] [--streams 200] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench._loadgen import Connection, event_lines, schedule
from hub import accounts
from hub.config import Settings
from hub.nginx import NginxProcess
from hub.pgcluster import Cluster, admin
from hub.runtime import Hub
from hub.testing import ServerProcess, wait_until

ENV = {"HUB_WORKERS": "0", "HUB_DISABLED_PLUGINS": "speech,slides", "HUB_EXTRA_PLUGINS": "tests.e2e.quick_plugin",
       "HUB_TEST_AUDIO_S": "3", "HUB_AUTH_FAIL_LIMIT": "100000"}
STATIC = """
    location /_bench_static/ {
        alias %s/;
    }
"""


def build(settings: Settings, devices: int, communes: int) -> dict:
    """Communes, an author and an approver, and the fleet (tokens), in one transaction each."""
    hub = Hub.open(settings)
    try:
        with hub.store.session() as session:
            codes = [f"C{n:03d}" for n in range(communes)]
            for code in codes:
                accounts.add_commune(session, code, f"Xã {code}")
            users = {name: accounts.add_user(session, name, "editor")["token"] for name in ("author", "approver")}
        tokens = []
        with hub.store.session() as session:
            for n in range(devices):
                tokens.append(accounts.add_device(session, f"loa-{n}", codes[n % communes])["token"])
        return {"users": users, "tokens": tokens}
    finally:
        hub.close()


def cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def group_cpu(pid: int) -> float:
    """A process and its children (nginx's workers, PostgreSQL's backends)."""
    return cpu(pid) + sum(cpu(child) for child in children(pid))


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


def poll_jobs(tokens: list[str], period: float, seconds: float) -> list[tuple[float, object]]:
    jobs = []
    for token in tokens:
        at = random.uniform(0, period)
        while at < seconds:
            jobs.append((at, token))
            at += period * random.uniform(0.8, 1.2)
    return jobs


async def poll_load(port: int, tokens: list[str], period: float, seconds: float, tls,
                    known: dict[str, str] | None = None, marks: dict | None = None) -> dict:
    """The fleet's polls over ``seconds``, each device every ``period`` ±20 % with the ETag it
    last got (``known``: from warm_up, as a fleet that has been polling for hours)."""
    known = {} if known is None else known

    def headers_for(token: str):
        def build_headers(_kind) -> dict[str, str]:
            headers = {"Authorization": f"Bearer {token}"}
            if token in known:
                headers["If-None-Match"] = known[token]
            return headers
        build_headers.token = token
        return build_headers

    def remember(headers, status, response_headers) -> None:
        if status == 200:
            known[headers.token] = response_headers["etag"]

    jobs = [(at, headers_for(token)) for at, token in poll_jobs(tokens, period, seconds)]
    # About one poll per connection per second: uvicorn closes a connection idle for 5 s.
    connections = max(2, min(64, int(len(tokens) / period)))
    result = await schedule("127.0.0.1", port, "/api/v1/device/manifest", jobs, connections, remember, ssl=tls)
    latencies = result["latencies"]
    if not latencies:
        return {"polls": 0}
    split = {}
    if marks and "approved_at" in marks:
        # Before the emergency (every device's ETag still good) and after it (every manifest changed).
        cut = marks["approved_at"] - result["start"]
        for name, part in (("before", [lat for at, lat in result["timed"] if at < cut]),
                           ("after", [lat for at, lat in result["timed"] if at >= cut])):
            part.sort()
            if part:
                split[f"{name}_emergency"] = {"polls": len(part), "p50_ms": round(statistics.median(part) * 1000, 1),
                                              "p99_ms": round(pct(part, 0.99) * 1000, 1)}
    return {**split, "polls": len(latencies), "per_s": round(len(latencies) / result["seconds"], 1),
            "statuses": result["statuses"], "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p99_ms": round(pct(latencies, 0.99) * 1000, 1),
            "client_lag_p99_ms": round(pct(result["lags"], 0.99) * 1000, 1)}


async def warm_up(port: int, tokens: list[str], tls) -> dict[str, str]:
    """Every device polls once, as fast as the hub answers (not measured): the servers' caches hold
    the fleet's tokens and manifests, and each device its ETag, as on a hub that has been running."""
    known: dict[str, str] = {}

    def headers_for(token: str):
        def build_headers(_kind) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}
        build_headers.token = token
        return build_headers

    def remember(headers, status, response_headers) -> None:
        if status == 200:
            known[headers.token] = response_headers["etag"]

    await schedule("127.0.0.1", port, "/api/v1/device/manifest", [(0.0, headers_for(t)) for t in tokens], 32,
                   remember, ssl=tls)
    return known


async def hold_stream(port: int, tls, token: str, state: dict) -> None:
    """One device's event stream: note when the emergency's event arrives, and when the device has
    its audio — at once if the event carries it (docs/device-protocol.md §2), else downloaded
    through nginx as an agent would."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    try:
        async for line in event_lines("127.0.0.1", port, "/api/v1/device/events", headers, ssl=tls,
                                      connected=lambda: state["connected"].add(token)):
            bulletin = state.get("bulletin")
            if not bulletin or bulletin.encode() not in line or token in state["event"]:
                continue
            state["event"][token] = time.monotonic()
            media, manifest = line.find(b',"media":{"'), line.find(b',"manifest":')
            if 0 <= media < manifest:
                state["audio"][token] = state["event"][token]
                state["carried"] += 1
                return
            url = next(item["media"]["url"] for item in json.loads(line[5:])["manifest"]["items"]
                       if item["bulletin_id"] == bulletin)
            status, _headers, _body = await Connection("127.0.0.1", port, tls).get(
                url, {"Authorization": f"Bearer {token}"})
            if status == 200:
                state["audio"][token] = time.monotonic()
            return
    except (OSError, asyncio.IncompleteReadError, StopIteration, KeyError, ValueError) as exc:
        state["errors"].append(repr(exc)[:120])


def prepare_emergency(url: str, users: dict, tls) -> str:
    """Created and submitted (so rendered by the worker), not approved yet."""
    with httpx.Client(base_url=url, verify=tls, timeout=30) as api:
        author = {"Authorization": f"Bearer {users['author']}"}
        body = {"title": "Khẩn cấp: bão số 9", "body": "Bà con chằng chống nhà cửa.", "priority": "emergency",
                "channels": ["speaker"], "targets": ["*"]}
        bulletin = api.post("/api/v1/bulletins", json=body, headers=author).json()["id"]
        api.post(f"/api/v1/bulletins/{bulletin}/submit", headers=author)
        wait_until(lambda: api.get(f"/api/v1/bulletins/{bulletin}", headers=author).json()["render_status"] == "done",
                   60, "the emergency rendered")
        return bulletin


def stream_holders(url: str, cafile: str, tokens: list[str], pipe) -> None:
    """In a process of its own (the poll generator must not share a loop or a core's time slice
    with 2,000 TLS streams): hold the streams, report when all are connected, learn the bulletin,
    send back when each device had its event and its audio (monotonic clock: system-wide on Linux)."""

    async def run() -> dict:
        tls = ssl.create_default_context(cafile=cafile) if cafile else None
        state = {"connected": set(), "event": {}, "audio": {}, "errors": [], "carried": 0}
        port = int(url.rsplit(":", 1)[1])
        holders = []
        for n, token in enumerate(tokens):
            holders.append(asyncio.create_task(hold_stream(port, tls, token, state)))
            if n % 50 == 49:
                await asyncio.sleep(0.05)  # TLS handshakes in batches, as devices come online
        deadline = time.monotonic() + 120
        while len(state["connected"]) < len(tokens) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        pipe.send(len(state["connected"]))
        state["bulletin"] = await asyncio.to_thread(pipe.recv)
        await asyncio.wait(holders, timeout=90)
        for task in holders:
            task.cancel()
        return {"event": list(state["event"].values()), "audio": list(state["audio"].values()),
                "errors": state["errors"][:3], "carried": state["carried"]}

    pipe.send(asyncio.run(run()))


async def cluster_phase(url: str, cafile: str | None, made: dict, args, tls, pids: dict[str, int]) -> dict:
    """The load on a hub at ``url`` (nginx and TLS before the cluster, or one server directly):
    streams held, the fleet warmed up, the polls, and halfway an emergency approved."""
    port = int(url.rsplit(":", 1)[1])
    import multiprocessing

    tokens = made["tokens"]
    bulletin = await asyncio.to_thread(prepare_emergency, url, made["users"], tls or True)
    ours, theirs = multiprocessing.Pipe()
    holder = multiprocessing.get_context("fork").Process(
        target=stream_holders, args=(url, cafile, tokens[:args.streams], theirs), daemon=True)
    holder.start()
    connected = await asyncio.to_thread(ours.recv)
    warm_started = time.monotonic()
    known = await warm_up(port, tokens, tls) if args.warm else {}
    warm_s = time.monotonic() - warm_started
    before = {name: group_cpu(pid) for name, pid in pids.items()}
    marks: dict = {}
    polls = asyncio.create_task(poll_load(port, tokens, args.period, args.seconds, tls, known, marks))
    await asyncio.sleep(args.seconds / 2)
    # The holders compare event lines with the bulletin only from now on: the approval's event.
    ours.send(bulletin)
    with httpx.Client(base_url=url, verify=tls or True, timeout=30) as api:
        approved_at = marks["approved_at"] = time.monotonic()
        answer = await asyncio.to_thread(api.post, f"/api/v1/bulletins/{bulletin}/approve",
                                         headers={"Authorization": f"Bearer {made['users']['approver']}"})
    assert answer.status_code == 200, answer.text
    poll = await polls
    used = {name: round(group_cpu(pid) - before[name], 1) for name, pid in pids.items()}
    state = await asyncio.to_thread(ours.recv)
    holder.join(10)
    events = sorted(t - approved_at for t in state["event"])
    audio = sorted(t - approved_at for t in state["audio"])
    return {"streams_connected": connected, "warm_up_s": round(warm_s, 1), "poll": poll, "cpu_s": used, "cpu_window_s": args.seconds,
            "emergency": {"event_received": len(events), "event_all_s": round(events[-1], 2) if events else None,
                          "event_p50_s": round(statistics.median(events), 2) if events else None,
                          "audio_received": len(audio), "audio_all_s": round(audio[-1], 2) if audio else None,
                          "audio_in_the_event": state["carried"],
                          "stream_errors": state["errors"][:3]}}


async def media_side_by_side(nginx: NginxProcess, token: str, device_sha: str, public_sha: str, requests: int,
                             tls) -> dict:
    """/media/ for a public file (nginx sends it from the hub's link, without asking), for a
    device's file (the hub says yes, nginx sends it) and the same device file from a plain static
    location: the same requests, alternating rounds."""
    device = [(0.0, {"Authorization": f"Bearer {token}"})] * requests
    cases = {"public": (f"/media/{public_sha}", [(0.0, {})] * requests),
             "device": (f"/media/{device_sha}", device),
             "static": (f"/_bench_static/{device_sha[:2]}/{device_sha}", device)}
    rates: dict[str, list[float]] = {kind: [] for kind in cases}
    for _round in range(3):
        for kind, (path, load) in cases.items():
            result = await schedule("127.0.0.1", nginx.https_port, path, load, 16, ssl=tls)
            assert set(result["statuses"]) == {200}, (kind, result["statuses"])
            rates[kind].append(requests / result["seconds"])
    median = {kind: statistics.median(values) for kind, values in rates.items()}
    return {"requests_per_round": requests, **{f"{kind}_per_s": round(rate) for kind, rate in median.items()},
            "public_ratio": round(median["public"] / median["static"], 2),
            "device_ratio": round(median["device"] / median["static"], 2)}


def prepare_public(url: str, users: dict, tls) -> str:
    """A bulletin on the web channel, approved and rendered: its audio's sha256 (a public file)."""
    with httpx.Client(base_url=url, verify=tls, timeout=30) as api:
        author, approver = ({"Authorization": f"Bearer {users[name]}"} for name in ("author", "approver"))
        body = {"title": "Lịch tiêm chủng", "body": "Tiêm chủng tại trạm y tế xã.", "priority": "normal",
                "channels": ["web"], "targets": ["*"]}
        bulletin = api.post("/api/v1/bulletins", json=body, headers=author).json()["id"]
        api.post(f"/api/v1/bulletins/{bulletin}/submit", headers=author)
        api.post(f"/api/v1/bulletins/{bulletin}/approve", headers=approver)

        def audio():
            found = api.get(f"/api/v1/bulletins/{bulletin}/artifacts", headers=author).json()
            return next((a["sha256"] for a in found if a["kind"] == "audio" and a.get("published", True)), None)
        return wait_until(audio, 60, "the public bulletin's audio")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--communes", type=int, default=20)
    parser.add_argument("--period", type=float, default=60.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--cold", dest="warm", action="store_false",
                        help="no warm-up: every device's first poll (a hub just started) is measured")
    parser.add_argument("--media-requests", type=int, default=1000)
    args = parser.parse_args()
    random.seed(13)
    root = Path(tempfile.mkdtemp(prefix="bench-cluster-", dir="/tmp"))
    os.chmod(root, 0o755)
    pg = Cluster(root / "pg")
    procs: list = []
    try:
        pg.start()
        admin(pg.url, 'CREATE DATABASE "bench"')
        data = root / "var"
        settings = Settings(data_dir=data, database_url=pg.url + "bench", workers=0)
        made = build(settings, args.devices, args.communes)
        env = {**ENV, "HUB_DATA_DIR": str(data), "HUB_DATABASE_URL": pg.url + "bench"}
        servers = [ServerProcess(env), ServerProcess(env)]
        worker = subprocess.Popen([sys.executable, "-m", "hub.cli", "worker"], env={**os.environ, **env},
                                  stdout=open(root / "worker.log", "ab"), stderr=subprocess.STDOUT)
        procs += [*servers, worker]
        with ThreadPoolExecutor() as pool:
            list(pool.map(lambda server: server.start(120), servers))
        nginx = NginxProcess(root / "nginx", [s.port for s in servers], data / "media",
                             extra=STATIC % (data / "media").resolve())
        nginx.start()
        procs.append(nginx)
        tls = ssl.create_default_context(cafile=str(nginx.cert))
        postmaster = int((pg.data / "postmaster.pid").read_text().split()[0]) if hasattr(pg, "data") else None
        pids = {"hub_serve_1": servers[0].proc.pid, "hub_serve_2": servers[1].proc.pid, "hub_worker": worker.pid,
                "nginx": nginx.proc.pid}
        if postmaster:
            pids["postgresql"] = postmaster
        print(f"cluster: {args.devices} devices in {args.communes} communes, {args.streams} streams, "
              f"polling every {args.period:g} s ±20 % for {args.seconds:g} s", flush=True)
        result = {"devices": args.devices, "streams": args.streams,
                  "cluster": asyncio.run(cluster_phase(nginx.url, str(nginx.cert), made, args, tls, pids))}
        print(json.dumps(result["cluster"]), flush=True)

        with httpx.Client(base_url=nginx.url, verify=tls) as api:
            author = {"Authorization": f"Bearer {made['users']['author']}"}
            listed = api.get("/api/v1/bulletins", headers=author).json()
            items = listed["items"] if isinstance(listed, dict) else listed
            sha = next(a["sha256"] for a in api.get(f"/api/v1/bulletins/{items[0]['id']}/artifacts",
                                                     headers=author).json() if a["kind"] == "audio")
        public_sha = prepare_public(nginx.url, made["users"], tls)
        result["media"] = asyncio.run(media_side_by_side(nginx, made["tokens"][0], sha, public_sha,
                                                         args.media_requests, tls))
        print(json.dumps(result["media"]), flush=True)
        for proc in procs:
            proc.stop() if hasattr(proc, "stop") else (proc.terminate(), proc.wait(20))
        procs.clear()

        # The same load (streams, polls, the emergency) on one hub serve with SQLite and its own
        # worker thread, straight to it (no nginx, no TLS).
        lite = root / "lite"
        made_lite = build(Settings(data_dir=lite, workers=0), args.devices, args.communes)
        server = ServerProcess({**ENV, "HUB_DATA_DIR": str(lite), "HUB_WORKERS": "1", "HUB_JOB_POLL_S": "0.2"}).start(120)
        procs.append(server)
        result["sqlite_one_server"] = asyncio.run(cluster_phase(server.url, None, made_lite, args, None,
                                                                {"hub_serve": server.proc.pid}))
        print(json.dumps(result["sqlite_one_server"]), flush=True)
        print(json.dumps(result))
    finally:
        for proc in procs:
            try:
                proc.stop() if hasattr(proc, "stop") else (proc.terminate(), proc.wait(20))
            except Exception:
                pass
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
