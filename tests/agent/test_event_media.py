"""An emergency's audio rides along with the event that announces it (docs/device-protocol.md §2):
a loudspeaker keeps it only if it is exactly the file its signed manifest names, and then plays it
without downloading it; displays and ordinary bulletins get no audio in their events."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from datetime import timedelta

import httpx
import pytest

from hub.agent.cache import MediaCache
from hub.agent.client import HubClient, pushed_manifest
from hub.agent.manifest import Media
from hub.clock import utcnow
from hub.manifests import UrgentMedia
from hub.testing import wait_until
from tests.agent.conftest import silent_mp3


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_events(url: str, token: str, out: list[dict], stop: threading.Event) -> None:
    try:
        with httpx.stream("GET", f"{url}/api/v1/device/events", timeout=httpx.Timeout(10, read=30),
                          headers={"Authorization": f"Bearer {token}"}) as response:
            for line in response.iter_lines():
                if line.startswith("data:"):
                    out.append({"data": line[5:].strip(), **json.loads(line[5:])})
                if stop.is_set():
                    return
    except httpx.HTTPError:
        pass


def downloads(monkeypatch) -> list[str]:
    """The media URLs the (in-process) agents download; everything else as it is."""
    asked: list[str] = []
    original = HubClient.download

    def counted(self, url, *args, **kwargs):
        asked.append(url)
        return original(self, url, *args, **kwargs)
    monkeypatch.setattr(HubClient, "download", counted)
    return asked


def test_the_emergency_plays_from_its_event_without_a_download(live_hub, make_agent, player_log, monkeypatch):
    live_hub.people.device("loa-1", "X1")
    live_hub.people.device("bang-1", "X1", kind="display")
    asked = downloads(monkeypatch)
    agent = make_agent(live_hub.url, live_hub.people.tokens["loa-1"], poll_s=600)
    wait_until(lambda: agent.etag is not None, timeout=15, what="the first manifest")
    speaker_events, board_events, stop = [], [], threading.Event()
    for token, out in ((live_hub.people.tokens["loa-1"], speaker_events), (live_hub.people.tokens["bang-1"], board_events)):
        threading.Thread(target=read_events, args=(live_hub.url, token, out, stop), daemon=True).start()
    wait_until(lambda: speaker_events and board_events, timeout=10, what="both streams open")

    # A programme on the air now: its audio is downloaded, not carried.
    programme = live_hub.uploaded_audio("X1", 2.0)
    live_hub.playlist_now("X1", programme)
    wait_until(lambda: any(programme in e["data"] for e in speaker_events), timeout=10, what="the programme's event")
    assert not any("media" in e for e in speaker_events), "a programme's audio came with the event"

    live_hub.approved("X1", priority="emergency")
    emergency = _sha(silent_mp3(1.0))
    wait_until(lambda: any(e["media"] == emergency for e in player_log.events("start")), timeout=10,
               what="the emergency on the air")
    assert not [url for url in asked if emergency in url], "the emergency's audio was downloaded"
    assert (agent.cache.path(emergency)).read_bytes() == silent_mp3(1.0)

    carried = next(e for e in speaker_events if "media" in e)
    assert base64.b64decode(carried["media"][emergency]) == silent_mp3(1.0)
    # The manifest is still the line's end, and its signature still covers exactly its bytes.
    etag, raw, signature, media = pushed_manifest(carried["data"])
    assert media == {emergency: silent_mp3(1.0)}
    assert agent.trust.check(raw, signature, None)
    assert emergency in {item["media"]["sha256"] for item in json.loads(raw)["items"] if "media" in item}
    wait_until(lambda: any(emergency in e["data"] for e in board_events), timeout=10, what="the board's event")
    assert not any("media" in e for e in board_events), "a display board plays no audio"
    stop.set()


def test_too_large_to_carry_is_downloaded(live_hub, make_agent, player_log, monkeypatch):
    live_hub.hub.settings = live_hub.hub.settings.model_copy(update={"event_media_max_bytes": 100})
    live_hub.people.device("loa-1", "X1")
    asked = downloads(monkeypatch)
    agent = make_agent(live_hub.url, live_hub.people.tokens["loa-1"], poll_s=600)
    wait_until(lambda: agent.etag is not None, timeout=15, what="the first manifest")
    live_hub.approved("X1", priority="emergency")
    wait_until(lambda: player_log.events("end"), timeout=10, what="the emergency played")
    assert [url for url in asked if _sha(silent_mp3(1.0)) in url]


def test_only_the_manifests_own_file_is_kept(tmp_path):
    cache = MediaCache(tmp_path, 10_000_000)
    good = silent_mp3(1.0)
    media = Media(url=f"/media/{_sha(good)}", sha256=_sha(good), bytes=len(good), duration_s=1.0)
    assert not cache.keep(media, good[:-1] + b"\0"), "a tampered file was kept"
    assert not cache.keep(media, good + b"\0"), "a longer file was kept"
    assert not cache.has(media.sha256) and list(tmp_path.iterdir()) == []
    assert cache.keep(media, good) and cache.path(media.sha256).read_bytes() == good


def test_an_events_media_that_does_not_decode_is_left_out():
    data = json.dumps({"etag": '"e"', "signature": "keyid=x, sig=y",
                       "media": {"a" * 64: "%%% not base64", "b" * 64: base64.b64encode(b"ok").decode()}})
    data = data[:-1] + ',"manifest":{"items":[]}}'
    etag, raw, signature, media = pushed_manifest(data)
    assert (etag, raw, signature) == ('"e"', b'{"items":[]}', "keyid=x, sig=y")
    assert media == {"b" * 64: b"ok"}


@pytest.mark.parametrize("carried", [{"c" * 64: b"not named by the manifest"}])
def test_a_file_the_manifest_does_not_name_is_ignored(live_hub, make_agent, carried):
    live_hub.people.device("loa-1", "X1")
    agent = make_agent(live_hub.url, live_hub.people.tokens["loa-1"], poll_s=600)
    wait_until(lambda: agent.manifest is not None, timeout=15, what="the first manifest")
    agent._keep_carried(agent.manifest, carried)
    assert not agent.cache.has("c" * 64)


def test_only_an_emergency_going_on_the_air_is_carried():
    now = utcnow()
    later = now + timedelta(minutes=5)
    assert UrgentMedia("a" * 64, 10, now - timedelta(seconds=30), later).going_on_air(now)
    assert not UrgentMedia("a" * 64, 10, now - timedelta(seconds=90), later).going_on_air(now), \
        "a reconnection long after the emergency began downloads it if it must"
    assert not UrgentMedia("a" * 64, 10, now - timedelta(seconds=30), now).going_on_air(now)
    assert not UrgentMedia("a" * 64, 10, now + timedelta(minutes=2), later).going_on_air(now)
