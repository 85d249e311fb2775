"""Benchmark (issue #6): an emergency's time to air on 200 loudspeaker agents.

Builds a store with 200 speaker devices in 20 communes (each commune with a day programme, so
manifests are not empty), starts one real ``hub serve`` (SQLite, HUB_WORKERS=1, the offline speech
chain: HUB_TTS_ENGINES=espeak, slides disabled) and 200 instances of hub.agent's own Agent in a few
processes (bench/_agents.py), each with its own cache folder and device token. Then, per round, an
editor approves a short emergency and each targeted agent's time from the approval request
returning to its player starting is measured:

  speech-all   real speech rendering, targets "*"
  speech-set   real speech rendering, half the communes; the others must stay silent
  quick-all    a quick tone renderer instead (the hub restarted without speech): delivery alone

Each agent also records when the event stream announced the new manifest, when it took the
manifest, and when the download ended, so the time splits into render, notification, manifest
fetch, download and scheduler wake-up. The player is a callable that notes the time it was started
(``--player command`` runs a real tiny shell command per play instead).

    .venv/bin/python -m bench.time_to_air      # prints figures; the last line is one JSON object
"""

from __future__ import annotations

import argparse
import json
import math
import os
import select
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from hub import hookimpl
from hub.plugin_types import RenderedMedia, Renderer
from hub.testing import ServerProcess, free_port, tone_mp3

ROOT = Path(__file__).resolve().parent.parent
GOAL = {"median_s": 2.0, "p99_s": 5.0}
TITLE = "Cảnh báo lũ quét khẩn cấp"
BODY = ("Mưa lớn kéo dài gây nguy cơ lũ quét và sạt lở đất tại các thôn ven suối. "
        "Bà con di chuyển ngay người và tài sản đến nơi an toàn, không qua suối. Thông báo lần {n}.")


# --- the quick renderer: loaded by the hub server through HUB_EXTRA_PLUGINS=bench.time_to_air ---

def _quick_audio(ctx):
    # As long as the spoken one, so that only the rendering differs between the rounds.
    seconds = float(os.environ.get("BENCH_QUICK_AUDIO_S", "15"))
    freq = 300 + int(ctx.bulletin.content_hash[:4], 16) % 600
    return [RenderedMedia(kind="audio", mime="audio/mpeg", data=tone_mp3(seconds, freq),
                          meta={"duration_s": seconds, "engine": "tone", "voice": "none"})]


@hookimpl
def hub_register_renderers():
    return [Renderer(name="bench-quick-audio", channel="speaker", render=_quick_audio)]


# --- setup ---------------------------------------------------------------------------------------

def build_store(data: Path, devices: int, communes: int) -> dict[str, Any]:
    from hub import accounts
    from hub.auth import Principal
    from hub.config import Settings
    from hub.models import MediaObject
    from hub.playlists import ItemIn, PlaylistIn, ScheduleIn, create as create_playlist
    from hub.plugins import make_plugin_manager
    from hub.runtime import Hub

    settings = Settings(data_dir=data, workers=0, disabled_plugins=["slides"], tts_engines=["espeak"])
    hub = Hub.open(settings, make_plugin_manager(settings))
    codes = [f"X{n:02d}" for n in range(communes)]
    made: dict[str, Any] = {"communes": codes, "devices": []}
    jingle = tone_mp3(3.0, 660)
    sha256 = hub.media.put(jingle)
    with hub.store.session() as session:
        for code in codes:
            accounts.add_commune(session, code, f"Xã {code}")
        made["author"] = accounts.add_user(session, "tacgia", "editor")["token"]
        made["approver"] = accounts.add_user(session, "duyet", "editor")["token"]
        for n in range(devices):
            record = accounts.add_device(session, f"loa-{n:03d}", codes[n % communes], "speaker")
            made["devices"].append({"id": record["id"], "token": record["token"], "commune": codes[n % communes]})
        session.add(MediaObject(sha256=sha256, bytes=len(jingle), mime="audio/mpeg", meta={"duration_s": 3.0}))
    # Each commune's day programme, at times well away from now so that none is on air during a round.
    local = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
    times = sorted({(local + timedelta(hours=h)).strftime("%H:%M") for h in (3, 7, 11, 15)})
    with hub.store.session() as session:
        system = Principal("system", "bench", "admin")
        for code in codes:
            create_playlist(session, system, PlaylistIn(
                name=f"Chương trình {code}", commune=code, items=[ItemIn(media=sha256)],
                schedule=ScheduleIn(times=times, start_date=local.date() - timedelta(days=1))))
    hub.close()
    made["jingle"] = sha256
    return made


class Server(ServerProcess):
    """``hub serve`` in a subprocess (hub.testing's helper); its log goes to the data folder."""

    def __init__(self, data: Path, port: int, env: dict[str, str]) -> None:
        # From the project root, so that HUB_EXTRA_PLUGINS=bench.time_to_air imports.
        super().__init__({"HUB_DATA_DIR": str(data), "HUB_WORKERS": "1", **env}, port, cwd=ROOT)
        self.data = data

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU of the hub itself, and of the children it waited for (espeak-ng, ffmpeg)."""
        return cpu_of(self.proc.pid)


def cpu_of(pid: int) -> tuple[float, float]:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


class Workers:
    """The agent processes; spoken to with lines on stdin and stdout."""

    def __init__(self, data: Path, url: str, devices: list[dict], processes: int, command_player: bool) -> None:
        self.data = data
        self.plays_file = data / "plays.log"
        self.plays_file.touch()
        self.procs: list[subprocess.Popen] = []
        self.outs: list[Path] = []
        recorder = ('printf "%s %s %s\\n" "$0" "${1##*/}" "$(date +%s.%N)" >> ' + shlex.quote(str(self.plays_file)))
        share = math.ceil(len(devices) / processes)
        for p in range(processes):
            chunk = devices[p * share:(p + 1) * share]
            agents = [{"device": d["id"], "token": d["token"], "cache": str(data / "agents" / d["id"]),
                       # `true` satisfies the agent's player check; the callable replaces it.
                       "player": shlex.join(["sh", "-c", recorder, d["id"]]) if command_player else "true"}
                      for d in chunk]
            out = data / f"agents-{p}.json"
            config = {"server": url, "agents": agents, "plays_file": str(self.plays_file), "out": str(out),
                      "log": str(data / f"agents-{p}.log"), "callable_player": not command_player,
                      # Quicker reconnection than the defaults (2 s doubling to 300 s): the bench restarts the hub.
                      "overrides": {"backoff_s": 0.5, "backoff_max_s": 2.0}}
            path = data / f"agents-{p}.config.json"
            path.write_text(json.dumps(config))
            self.outs.append(out)
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "bench._agents", str(path)], cwd=ROOT, text=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(data / f"agents-{p}.stderr", "w")))

    def _ask(self, line: str, timeout: float) -> list[str]:
        for proc in self.procs:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
        answers = []
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            answers.append(proc.stdout.readline().strip() if ready else "(no answer)")
        return answers

    def ready(self, since: float, timeout: float) -> int:
        """How many agents have an event stream opened after ``since`` (waiting up to ``timeout``)."""
        answers = self._ask(f"ready {since} {timeout}", timeout + 5)
        return sum(int(a.split()[1]) for a in answers if a.startswith("ready "))

    def stop(self) -> list[dict]:
        self._ask("stop", 20)
        timelines = []
        for proc, out in zip(self.procs, self.outs):
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
            if out.exists():
                timelines += json.loads(out.read_text())
        return timelines

    def cpu_seconds(self) -> float:
        return sum(sum(cpu_of(proc.pid)) for proc in self.procs)

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)

    def plays(self) -> list[tuple[str, str, float]]:
        rows = []
        for line in self.plays_file.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3:
                rows.append((parts[0], parts[1], float(parts[2])))
        return rows


# --- one round ------------------------------------------------------------------------------------

def api(url: str, token: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    response = httpx.request(method, url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30,
                             **kwargs)
    response.raise_for_status()
    return response


def emergency(url: str, made: dict, n: int, targets: list[str]) -> tuple[str, float, float]:
    """Create, submit and approve an emergency; return its id and the wall clock around the approval."""
    payload = {"title": TITLE, "body": BODY.format(n=n), "priority": "emergency", "channels": ["speaker"],
               "targets": targets, "repeat_count": 1}
    bid = api(url, made["author"], "POST", "/api/v1/bulletins", json=payload).json()["id"]
    api(url, made["author"], "POST", f"/api/v1/bulletins/{bid}/submit")
    sent = time.time()
    api(url, made["approver"], "POST", f"/api/v1/bulletins/{bid}/approve")
    return bid, sent, time.time()


def run_round(name: str, url: str, made: dict, workers: Workers, server: Server, n: int, targets: list[str],
              timeout: float) -> dict[str, Any]:
    targeted = {d["id"] for d in made["devices"] if "*" in targets or d["commune"] in targets}
    others = {d["id"] for d in made["devices"]} - targeted
    cpu0, agents_cpu0 = server.cpu_seconds(), workers.cpu_seconds()
    bid, sent, t0 = emergency(url, made, n, targets)
    deadline = t0 + timeout
    played: dict[str, tuple[str, float]] = {}
    while time.time() < deadline:
        played = {}
        for device, sha, at in workers.plays():
            if at >= sent and device not in played:
                played[device] = (sha, at)
        if targeted <= played.keys():
            break
        time.sleep(0.05)
    # Whoever was not targeted had the time the targeted ones took, and a little more, to go wrong.
    time.sleep(2.0)
    for device, sha, at in workers.plays():
        if at >= sent and device not in played:
            played[device] = (sha, at)
    cpu1 = server.cpu_seconds()
    agents_cpu = workers.cpu_seconds() - agents_cpu0
    bulletin = api(url, made["author"], "GET", f"/api/v1/bulletins/{bid}").json()
    audio = [a for a in bulletin.get("artifacts", []) if a["kind"] == "audio"]
    shas = {a["sha256"] for a in audio}
    good = {d: at - t0 for d, (sha, at) in played.items() if d in targeted and sha in shas}
    wrong = sorted(d for d, (sha, _) in played.items() if d in targeted and sha not in shas)
    stray = sorted(d for d in played if d in others)
    latencies = sorted(good.values())
    result = {
        "round": name, "bulletin": bid, "targets": targets, "targeted": len(targeted), "played": len(good),
        "played_wrong_media": len(wrong), "non_targeted": len(others), "non_targeted_played": len(stray),
        "approve_request_s": round(t0 - sent, 3),
        "audio_s": audio[0].get("duration_s") if audio else None,
        "engine": audio[0].get("engine") if audio else None,
        "wall_s": round(time.time() - t0, 2), "hub_cpu_s": round(cpu1[0] - cpu0[0], 2),
        "render_children_cpu_s": round(cpu1[1] - cpu0[1], 2), "agents_cpu_s": round(agents_cpu, 2),
        **summary(latencies),
    }
    result["_t0"], result["_sent"], result["_shas"] = t0, sent, sorted(shas)
    result["_targeted"] = sorted(targeted)
    result["_played_at"] = {d: at for d, (sha, at) in played.items() if sha in shas}
    return result


def nearest_rank(values: list[float], q: float) -> float:
    return values[max(0, math.ceil(q * len(values)) - 1)]


def summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median_s": None, "p99_s": None, "max_s": None, "min_s": None}
    values = sorted(values)
    return {"median_s": round(statistics.median(values), 3), "p99_s": round(nearest_rank(values, 0.99), 3),
            "max_s": round(values[-1], 3), "min_s": round(values[0], 3)}


# --- where the time went --------------------------------------------------------------------------

def _when(value: str) -> float:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def render_times(db: Path, bid: str, t0: float) -> dict[str, float | None]:
    """From the jobs and artifacts tables: when the render job was queued and its audio stored."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        jobs = conn.execute("select created_at, updated_at, status, renderer from jobs where bulletin_id = ?",
                            (bid,)).fetchall()
        artifacts = conn.execute("select created_at from artifacts where bulletin_id = ? and kind = 'audio'",
                                 (bid,)).fetchall()
    queued = min((_when(j[0]) for j in jobs), default=None)
    stored = max((_when(a[0]) for a in artifacts), default=None)
    return {"job_queued_s": round(queued - t0, 3) if queued else None,
            "audio_stored_s": round(stored - t0, 3) if stored else None,
            "render_s": round(stored - queued, 3) if queued and stored else None,
            "_stored": stored}


def stages(result: dict, timelines: dict[str, dict], stored: float | None) -> dict[str, Any]:
    """Per targeted agent, the time spent in each step between the audio being stored and the play.

    The event that led to the manifest is the last one the agent had before it sent the request.
    """
    t0, bid, shas = result["_t0"], result["bulletin"], set(result["_shas"])
    steps: dict[str, list[float]] = {"event_at": [], "manifest_at": [], "downloaded_at": [], "notify": [],
                                     "manifest_get": [], "download": [], "play_start": [], "player_spawn": []}
    by_poll = never_played = arrived_after_end = 0
    fanout: list[tuple[float, float]] = []
    for device in result["_targeted"]:
        line = timelines.get(device)
        if line is None:
            continue
        applied = next((a for a in line["applies"] if a[0] >= t0 and bid in a[3]), None)
        fetched = next((f for f in line["fetches"] if f[2] in shas and f[1] >= t0), None)
        play = next((p for p in line["plays"] if p[1] in shas and p[0] >= t0), None)
        if applied is not None and play is None:
            never_played += 1
            if result["audio_s"] and applied[0] > t0 + result["audio_s"]:
                arrived_after_end += 1
        if applied is None or play is None:
            continue
        event = next((e for e in reversed(line["events"]) if t0 <= e[0] <= applied[1]), None)
        if event is None:
            by_poll += 1
        else:
            steps["event_at"].append(event[0] - t0)
            if stored is not None:
                steps["notify"].append(event[0] - stored)
            steps["manifest_get"].append(applied[0] - event[0])
            opened = [s for s in line["streams"] if s <= t0]
            if opened:
                fanout.append((opened[-1], event[0]))
        steps["manifest_at"].append(applied[0] - t0)
        ready = applied[0]
        if fetched is not None:
            steps["download"].append(fetched[1] - applied[0])
            steps["downloaded_at"].append(fetched[1] - t0)
            ready = max(ready, fetched[1])
        # The plays file has the player's own start; the timeline, when the agent started it.
        started = result["_played_at"].get(device, play[0])
        steps["play_start"].append(started - ready)
        if abs(started - play[0]) > 5e-6:
            steps["player_spawn"].append(started - play[0])
    out: dict[str, Any] = {"manifest_by_poll_not_event": by_poll, "took_manifest_never_played": never_played,
                           "manifest_arrived_after_nominal_end": arrived_after_end}
    for step, values in steps.items():
        if values:
            values.sort()
            out[step] = {"median_s": round(statistics.median(values), 3),
                         "p99_s": round(nearest_rank(values, 0.99), 3),
                         "min_s": round(values[0], 3), "max_s": round(values[-1], 3)}
    if len(fanout) > 2:
        # The hub tells subscribers one after another: is the order of the events the order in which
        # the streams were opened (the hub's subscriber order)? 1.0 means strictly sequential.
        out["fanout_order_rank_corr"] = round(spearman([s for s, _ in fanout], [e for _, e in fanout]), 4)
        out["fanout_spread_s"] = round(max(e for _, e in fanout) - min(e for _, e in fanout), 3)
    return out


def spearman(xs: list[float], ys: list[float]) -> float:
    def ranks(values: list[float]) -> list[int]:
        order = sorted(range(len(values)), key=values.__getitem__)
        rank = [0] * len(values)
        for position, index in enumerate(order):
            rank[index] = position
        return rank

    rx, ry, n = ranks(xs), ranks(ys), len(xs)
    return 1 - 6 * sum((a - b) ** 2 for a, b in zip(rx, ry)) / (n * (n * n - 1))


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def report(result: dict) -> None:
    print(f"  {result['round']}: {result['played']}/{result['targeted']} targeted agents played "
          f"(wrong media: {result['played_wrong_media']}); non-targeted that played: "
          f"{result['non_targeted_played']}/{result['non_targeted']}", flush=True)
    print(f"    approval → player start: median {result['median_s']} s, p99 {result['p99_s']} s, "
          f"max {result['max_s']} s, min {result['min_s']} s", flush=True)
    print(f"    render: queued +{result['job_queued_s']} s, audio stored +{result['audio_stored_s']} s after the "
          f"approval returned ({result['engine']}, {result['audio_s']} s of audio)", flush=True)
    print(f"    CPU during the round ({result['wall_s']} s): hub {result['hub_cpu_s']} s, its espeak-ng/ffmpeg "
          f"{result['render_children_cpu_s']} s, the agent processes {result['agents_cpu_s']} s", flush=True)
    st = result["stages"]
    labels = {"event_at": "event (from approval)", "manifest_at": "manifest taken", "downloaded_at": "audio downloaded",
              "notify": "audio stored → event", "manifest_get": "event → manifest", "download": "manifest → audio",
              "play_start": "audio → player", "player_spawn": "(command start)"}
    for step, label in labels.items():
        if step in st:
            s = st[step]
            print(f"    {label:22} median {s['median_s']:6.3f} s  p99 {s['p99_s']:6.3f} s  "
                  f"[{s['min_s']:.3f} … {s['max_s']:.3f}]", flush=True)
    if "fanout_order_rank_corr" in st:
        print(f"    events reached the agents over {st['fanout_spread_s']} s, in the order their streams were opened "
              f"(rank correlation {st['fanout_order_rank_corr']})", flush=True)
    if st.get("manifest_by_poll_not_event"):
        print(f"    manifests taken by a poll, not an event: {st['manifest_by_poll_not_event']}", flush=True)
    if st.get("took_manifest_never_played"):
        print(f"    took the manifest but never played: {st['took_manifest_never_played']} "
              f"(of which {st['manifest_arrived_after_nominal_end']} after the item's nominal end)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--communes", type=int, default=20)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--player", choices=["callable", "command"], default="callable")
    parser.add_argument("--rounds", default="speech-all,speech-set,quick-all")
    parser.add_argument("--round-timeout", type=float, default=25.0)
    parser.add_argument("--quick-audio-s", type=float, default=15.0, help="length of the quick renderer's tone")
    parser.add_argument("--keep", action="store_true", help="keep the data folder (logs, timelines)")
    args = parser.parse_args()
    rounds = [r for r in args.rounds.split(",") if r]

    began = time.monotonic()
    load_before = load()
    print(f"load average before: {load_before} ({os.cpu_count()} CPUs)", flush=True)
    data = Path(tempfile.mkdtemp(prefix="hub-bench-air-"))
    server: Server | None = None
    workers: Workers | None = None
    results: list[dict] = []
    try:
        made = build_store(data / "var", args.agents, args.communes)
        print(f"store: {args.agents} devices in {args.communes} communes ({time.monotonic() - began:.1f} s)", flush=True)
        port = free_port()
        speech_env = {"HUB_TTS_ENGINES": "espeak", "HUB_DISABLED_PLUGINS": "slides"}
        extra = [name for name in os.environ.get("HUB_EXTRA_PLUGINS", "").split(",") if name]
        quick_env = {"HUB_DISABLED_PLUGINS": "speech,slides",
                     "HUB_EXTRA_PLUGINS": ",".join([*extra, "bench.time_to_air"]),
                     "BENCH_QUICK_AUDIO_S": str(args.quick_audio_s)}
        mode = "quick" if rounds[0].startswith("quick") else "speech"
        server = Server(data / "var", port, speech_env if mode == "speech" else quick_env).start()
        workers = Workers(data, server.url, made["devices"], args.processes, args.player == "command")
        started = time.monotonic()
        ready = workers.ready(0.0, 60.0)
        startup_s = round(time.monotonic() - started, 1)
        print(f"{ready}/{args.agents} agents subscribed in {args.processes} processes, {startup_s} s after they "
              f"were started (load {load()})", flush=True)
        time.sleep(3.0)  # first downloads and heartbeats settle

        previous_end = 0.0
        for n, name in enumerate(rounds, 1):
            want = "quick" if name.startswith("quick") else "speech"
            if want != mode:
                server.stop()
                server = Server(data / "var", port, quick_env if want == "quick" else speech_env)
                restarted = time.time()
                server.start()
                mode = want
                ready = workers.ready(restarted, 30.0)
                print(f"hub restarted ({want} rendering); {ready}/{args.agents} agents subscribed again", flush=True)
                time.sleep(2.0)
            # Emergencies never overlap: wait for the last one to end everywhere, or this one would queue.
            time.sleep(max(0.0, previous_end - time.time()))
            targets = ["*"] if name.endswith("-all") else made["communes"][:args.communes // 2]
            print(f"round {name}: load {load()}", flush=True)
            result = run_round(name, server.url, made, workers, server, n, targets, args.round_timeout)
            result.update(render_times(data / "var" / "hub.db", result["bulletin"], result["_t0"]))
            previous_end = result["_t0"] + (result["audio_s"] or 10.0) + (result["max_s"] or 0.0) + 1.0
            results.append(result)

        timelines = {t["device"]: t for t in workers.stop()}
        workers = None
        print(f"\n{args.agents} agents, {args.processes} processes, player: {args.player}; load now {load()}")
        for result in results:
            result["stages"] = stages(result, timelines, result.pop("_stored"))
            report(result)
        warnings = sum(len((data / f"agents-{p}.log").read_text().splitlines())
                       for p in range(args.processes) if (data / f"agents-{p}.log").exists())
        print(f"agent log lines (warnings and errors): {warnings}; took {time.monotonic() - began:.0f} s")

        headline = results[0]
        figures = {
            "bench": "time_to_air", "agents": args.agents, "communes": args.communes,
            "processes": args.processes, "player": args.player, "cpus": os.cpu_count(),
            "load_before": load_before, "load_after": load(),
            "median_s": headline["median_s"], "p99_s": headline["p99_s"], "max_s": headline["max_s"],
            "played": headline["played"], "targeted": headline["targeted"],
            "render_s": headline["render_s"],
            "non_targeted_played": sum(r["non_targeted_played"] for r in results),
            "goal": GOAL,
            "goal_met": all(r["median_s"] is not None and r["median_s"] < GOAL["median_s"]
                            and r["p99_s"] < GOAL["p99_s"] and r["played"] == r["targeted"]
                            and r["non_targeted_played"] == 0 for r in results),
            "rounds": {r["round"]: {k: v for k, v in r.items() if not k.startswith("_") and k != "round"}
                       for r in results},
            "agent_log_lines": warnings, "startup_subscribed_s": startup_s, "seconds": round(time.monotonic() - began, 1),
        }
        print(json.dumps(figures, ensure_ascii=False, default=str))
    finally:
        if workers is not None:
            workers.kill()
        if server is not None:
            server.stop()
        if args.keep:
            print(f"data kept in {data}", file=sys.stderr)
        else:
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
