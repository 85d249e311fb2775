"""Benchmark (issues #6, #10): an emergency's time to air on 200 (or 1,000) loudspeaker agents.

Builds a store with 200 speaker devices in 20 communes (each commune with a day programme, so
manifests are not empty), starts one real ``hub serve`` (SQLite, HUB_WORKERS=1, the offline speech
chain: HUB_TTS_ENGINES=espeak, slides disabled) and 200 instances of hub.agent's own Agent in a few
processes (bench/_agents.py), each with its own cache folder, device token and default settings.
It measures how long the fleet takes to hold its event streams, at start and again after the hub
is restarted; then, per round, an editor approves a short emergency and each targeted agent's time
from the approval request returning to its player starting is measured:

  review-all   real speech, targets "*"; submitted, then approved --review-s (30) seconds later,
               as a reviewer who listens first would (with rendering at submission, the audio
               is ready before the approval)
  speech-all   real speech, targets "*"; created, submitted and approved at once
  speech-set   the same for half the communes; the others must stay silent
  quick-all    a quick tone renderer instead (the hub restarted without speech): delivery alone

(any round name ending in ``-review`` or starting with ``review-`` is submitted, then approved later.)
Each agent also records when the event stream announced the new manifest, when it took the
manifest, and when the download ended, so the time splits into render, notification, manifest,
download and scheduler wake-up. The player is a callable that notes the time it was started
(``--player command`` runs a real tiny shell command per play instead).

    .venv/bin/python -m bench.time_to_air      # prints figures; the last line is one JSON object
    .venv/bin/python -m bench.time_to_air --agents 1000 --rounds review-all,speech-all
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
#: From the approval returning to the players starting: at once (audio made after the approval)…
GOAL = {"median_s": 2.0, "p99_s": 5.0}
#: … and for a bulletin whose audio was made at submission, approved after a review (issue #10).
GOAL_REVIEWED = {"median_s": 1.0, "p99_s": 1.5}
#: How long a (re)started hub may take to answer /healthz while the fleet is knocking.
START_TIMEOUT_S = 90.0
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
        # As an upload leaves it: programme audio for every commune (playlists take nothing else).
        session.add(MediaObject(sha256=sha256, bytes=len(jingle), mime="audio/mpeg", uploaded_by="bench",
                                meta={"duration_s": 3.0}))
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
            # The agents' default settings: what the bench measures is what a device does.
            config = {"server": url, "agents": agents, "plays_file": str(self.plays_file), "out": str(out),
                      "log": str(data / f"agents-{p}.log"), "callable_player": not command_player,
                      "overrides": {}}
            path = data / f"agents-{p}.config.json"
            path.write_text(json.dumps(config))
            self.outs.append(out)
            self.launched = time.time()
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

    def ready(self, since: float, timeout: float) -> dict[str, Any]:
        """Which agents hold an event stream opened after ``since`` (waiting up to ``timeout`` for all).

        ``subscribed_at``: when each such stream gave its first event (wall clock); ``phases``: per
        process, when it had imported, built and started its agents.
        """
        answers = self._ask(f"ready {since} {timeout}", timeout + 10)
        out: dict[str, Any] = {"ready": 0, "subscribed_at": [], "phases": []}
        for answer in answers:
            if answer.startswith("ready "):
                got = json.loads(answer[len("ready "):])
                out["ready"] += got["ready"]
                out["subscribed_at"] += got["subscribed_at"]
                out["phases"].append(got["phases"])
        out["subscribed_at"].sort()
        return out

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


def emergency(url: str, made: dict, n: int, targets: list[str], review_s: float = 0.0) -> tuple[str, float, float, float]:
    """Create and submit an emergency, approve it ``review_s`` later; return its id, when it was
    submitted and the wall clock around the approval."""
    payload = {"title": TITLE, "body": BODY.format(n=n), "priority": "emergency", "channels": ["speaker"],
               "targets": targets, "repeat_count": 1}
    bid = api(url, made["author"], "POST", "/api/v1/bulletins", json=payload).json()["id"]
    api(url, made["author"], "POST", f"/api/v1/bulletins/{bid}/submit")
    submitted = time.time()
    if review_s:
        time.sleep(review_s)
    sent = time.time()
    api(url, made["approver"], "POST", f"/api/v1/bulletins/{bid}/approve")
    return bid, submitted, sent, time.time()


def run_round(name: str, url: str, made: dict, workers: Workers, server: Server, n: int, targets: list[str],
              timeout: float, review_s: float = 0.0) -> dict[str, Any]:
    targeted = {d["id"] for d in made["devices"] if "*" in targets or d["commune"] in targets}
    others = {d["id"] for d in made["devices"]} - targeted
    if review_s:
        # The CPU and the plays of the round start at the approval, not during the review.
        bid, submitted, sent, t0 = emergency(url, made, n, targets, review_s)
        cpu0, agents_cpu0 = server.cpu_seconds(), workers.cpu_seconds()
    else:
        cpu0, agents_cpu0 = server.cpu_seconds(), workers.cpu_seconds()
        bid, submitted, sent, t0 = emergency(url, made, n, targets)
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
    # Audio made at submission must not reach a loudspeaker before the approval.
    early = sorted({device for device, sha, at in workers.plays() if sha in shas and at < sent})
    latencies = sorted(good.values())
    result = {
        "round": name, "bulletin": bid, "targets": targets, "targeted": len(targeted), "played": len(good),
        "played_wrong_media": len(wrong), "non_targeted": len(others), "non_targeted_played": len(stray),
        "played_before_approval": len(early), "review_s": review_s, "submitted_before_s": round(t0 - submitted, 3),
        "goal": GOAL_REVIEWED if review_s else GOAL,
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
    by_poll = never_played = arrived_after_end = carried = 0
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
        # Audio that came with the event was kept before the manifest counted as taken.
        carried += any(c[2] in shas and c[1] >= t0 for c in line.get("carried", []))
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
                           "manifest_arrived_after_nominal_end": arrived_after_end,
                           "audio_came_with_the_event": carried}
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
    goal = result["goal"]
    how = (f"submitted, approved {result['review_s']:g} s later" if result["review_s"]
           else "created, submitted and approved at once")
    print(f"    {how}; goal median < {goal['median_s']} s, p99 < {goal['p99_s']} s: "
          f"{'met' if round_goal_met(result) else 'NOT met'}", flush=True)
    print(f"    approval → player start: median {result['median_s']} s, p99 {result['p99_s']} s, "
          f"max {result['max_s']} s, min {result['min_s']} s", flush=True)
    print(f"    render: job queued {signed(result['job_queued_s'])}, audio stored {signed(result['audio_stored_s'])} "
          f"from the approval returning ({result['engine']}, {result['audio_s']} s of audio; the approval "
          f"request took {result['approve_request_s']} s)", flush=True)
    if result["review_s"]:
        print(f"    plays of its audio before the approval: {result['played_before_approval']}", flush=True)
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
    if st.get("audio_came_with_the_event"):
        print(f"    audio that came with the event (no download): {st['audio_came_with_the_event']} agents", flush=True)
    if st.get("manifest_by_poll_not_event"):
        print(f"    manifests taken by a poll, not an event: {st['manifest_by_poll_not_event']}", flush=True)
    if st.get("took_manifest_never_played"):
        print(f"    took the manifest but never played: {st['took_manifest_never_played']} "
              f"(of which {st['manifest_arrived_after_nominal_end']} after the item's nominal end)", flush=True)


def signed(value: float | None) -> str:
    return "?" if value is None else f"{value:+.3f} s"


def round_goal_met(result: dict) -> bool:
    goal = result["goal"]
    return (result["median_s"] is not None and result["median_s"] < goal["median_s"]
            and result["p99_s"] < goal["p99_s"] and result["played"] == result["targeted"]
            and result["non_targeted_played"] == 0 and result["played_before_approval"] == 0)


def subscription_summary(info: dict, since: float, agents: int) -> dict[str, Any]:
    """How long after ``since`` the agents held their event streams: the last one, and the median."""
    at = info["subscribed_at"]
    out: dict[str, Any] = {"subscribed": info["ready"], "agents": agents,
                           "all_s": round(at[-1] - since, 2) if at and info["ready"] == agents else None,
                           "median_s": round(statistics.median(at) - since, 2) if at else None}
    return out


def restart_hub(server: Server, make: Any, workers: Workers, agents: int) -> tuple[Server, dict[str, Any]]:
    """Stop the hub, start a new one on its port, and time the fleet's return to the event stream.

    Counted from the new hub's launch (the old one had exited): its /healthz may answer only after
    the fleet has already come back, so "answered" is no moment to count from.
    """
    began = time.time()
    server.stop()
    launched = time.time()
    server = make()
    try:
        server.start(timeout=START_TIMEOUT_S)
    except Exception:
        server.stop()  # a hub that did not answer in time must not outlive the bench
        raise
    answered = time.time()
    info = workers.ready(began, 60.0)
    out = {"stop_s": round(launched - began, 2), "healthz_s": round(answered - launched, 2),
           "from_launch": subscription_summary(info, launched, agents),
           "from_stop": subscription_summary(info, began, agents)}
    print(f"hub restarted: the old one took {out['stop_s']} s to stop; the new one answered /healthz "
          f"{out['healthz_s']} s after its launch; {info['ready']}/{agents} agents subscribed again, the last "
          f"{out['from_launch']['all_s']} s (median {out['from_launch']['median_s']} s) after the launch, "
          f"{out['from_stop']['all_s']} s after the restart began (load {load()})", flush=True)
    return server, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--communes", type=int, default=20)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--player", choices=["callable", "command"], default="callable")
    parser.add_argument("--rounds", default="review-all,speech-all,speech-set,quick-all")
    parser.add_argument("--review-s", type=float, default=30.0, help="submission to approval in review rounds")
    parser.add_argument("--round-timeout", type=float, default=25.0)
    parser.add_argument("--quick-audio-s", type=float, default=15.0, help="length of the quick renderer's tone")
    parser.add_argument("--no-restart", action="store_true", help="skip the hub restart before the rounds")
    parser.add_argument("--keep", action="store_true", help="keep the data folder (logs, timelines)")
    args = parser.parse_args()
    rounds = [r for r in args.rounds.split(",") if r]  # none: only the start-up and the restart

    began = time.monotonic()
    load_before = load()
    print(f"load average before: {load_before} ({os.cpu_count()} CPUs)", flush=True)
    data = Path(tempfile.mkdtemp(prefix="hub-bench-air-"))
    server: Server | None = None
    workers: Workers | None = None
    results: list[dict] = []
    restarts: list[dict] = []
    try:
        made = build_store(data / "var", args.agents, args.communes)
        print(f"store: {args.agents} devices in {args.communes} communes ({time.monotonic() - began:.1f} s)", flush=True)
        port = free_port()
        speech_env = {"HUB_TTS_ENGINES": "espeak", "HUB_DISABLED_PLUGINS": "slides"}
        extra = [name for name in os.environ.get("HUB_EXTRA_PLUGINS", "").split(",") if name]
        quick_env = {"HUB_DISABLED_PLUGINS": "speech,slides",
                     "HUB_EXTRA_PLUGINS": ",".join([*extra, "bench.time_to_air"]),
                     "BENCH_QUICK_AUDIO_S": str(args.quick_audio_s)}
        mode = "quick" if not rounds or rounds[0].startswith("quick") else "speech"

        def make_server() -> Server:
            return Server(data / "var", port, quick_env if mode == "quick" else speech_env)

        server = make_server().start()
        hub_cpu0 = sum(server.cpu_seconds())
        workers = Workers(data, server.url, made["devices"], args.processes, args.player == "command")
        info = workers.ready(0.0, 120.0)
        startup = subscription_summary(info, workers.launched, args.agents)
        phases = {name: round(max(p[name] for p in info["phases"]) - workers.launched, 2)
                  for name in ("imported", "built", "started")} if info["phases"] else {}
        if info["subscribed_at"] and phases:
            # What the hub and the agents' own start take, without the bench's processes getting going.
            startup["all_after_started_s"] = round(info["subscribed_at"][-1] - workers.launched - phases["started"], 2)
        startup.update({"processes_" + name: value for name, value in phases.items()},
                       hub_cpu_s=round(sum(server.cpu_seconds()) - hub_cpu0, 2),
                       agents_cpu_s=round(workers.cpu_seconds(), 2))
        print(f"{info['ready']}/{args.agents} agents subscribed in {args.processes} processes: the last "
              f"{startup['all_s']} s (median {startup['median_s']} s) after the processes were launched; "
              f"they had imported at +{phases.get('imported')} s, built their agents at +{phases.get('built')} s, "
              f"started them at +{phases.get('started')} s (the last subscribed "
              f"{startup.get('all_after_started_s')} s after that); CPU meanwhile: hub {startup['hub_cpu_s']} s, agent "
              f"processes {startup['agents_cpu_s']} s (load {load()})", flush=True)
        time.sleep(3.0)  # first downloads and heartbeats settle
        if not args.no_restart:
            server, restarted = restart_hub(server, make_server, workers, args.agents)
            restarts.append({"why": "restart", **restarted})
            time.sleep(2.0)

        previous_end = 0.0
        for n, name in enumerate(rounds, 1):
            want = "quick" if name.startswith("quick") else "speech"
            if want != mode:
                mode = want
                server, restarted = restart_hub(server, make_server, workers, args.agents)
                restarts.append({"why": f"to {want} rendering", **restarted})
                time.sleep(2.0)
            review_s = args.review_s if (name.startswith("review-") or name.endswith("-review")) else 0.0
            # Emergencies never overlap: wait for the last one to end everywhere, or this one would queue.
            time.sleep(max(0.0, previous_end - time.time() - review_s))
            targets = made["communes"][:args.communes // 2] if "-set" in name else ["*"]
            print(f"round {name}: load {load()}", flush=True)
            result = run_round(name, server.url, made, workers, server, n, targets, args.round_timeout, review_s)
            result.update(render_times(data / "var" / "hub.db", result["bulletin"], result["_t0"]))
            previous_end = result["_t0"] + (result["audio_s"] or 10.0) + (result["max_s"] or 0.0) + 1.0
            results.append(result)

        timelines = {t["device"]: t for t in workers.stop()}
        workers = None
        print(f"\n{args.agents} agents, {args.processes} processes, player: {args.player}; load now {load()}")
        print(f"  subscribed at start: all {startup['all_s']} s, median {startup['median_s']} s after launch; "
              f"all {startup.get('all_after_started_s')} s after the last agent was started")
        for restarted in restarts:
            print(f"  subscribed after a hub restart ({restarted['why']}): all {restarted['from_launch']['all_s']} s, "
                  f"median {restarted['from_launch']['median_s']} s after the new hub was launched (the old "
                  f"one took {restarted['stop_s']} s to stop; /healthz answered after {restarted['healthz_s']} s)")
        for result in results:
            result["stages"] = stages(result, timelines, result.pop("_stored"))
            report(result)
        warnings = sum(len((data / f"agents-{p}.log").read_text().splitlines())
                       for p in range(args.processes) if (data / f"agents-{p}.log").exists())
        print(f"agent log lines (warnings and errors): {warnings}; took {time.monotonic() - began:.0f} s")

        headline = results[0] if results else {"median_s": None, "p99_s": None, "max_s": None, "played": 0,
                                                 "targeted": 0, "render_s": None, "goal": GOAL}
        figures = {
            "bench": "time_to_air", "agents": args.agents, "communes": args.communes,
            "processes": args.processes, "player": args.player, "cpus": os.cpu_count(),
            "load_before": load_before, "load_after": load(),
            "median_s": headline["median_s"], "p99_s": headline["p99_s"], "max_s": headline["max_s"],
            "played": headline["played"], "targeted": headline["targeted"],
            "render_s": headline["render_s"],
            "non_targeted_played": sum(r["non_targeted_played"] for r in results),
            "goal": headline["goal"],
            "goal_met": bool(results) and all(round_goal_met(r) for r in results),
            "rounds": {r["round"]: {k: v for k, v in r.items() if not k.startswith("_") and k != "round"}
                       for r in results},
            "agent_log_lines": warnings, "startup": startup, "startup_subscribed_s": startup["all_s"],
            "restarts": restarts, "seconds": round(time.monotonic() - began, 1),
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
