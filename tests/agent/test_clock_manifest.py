"""Hub time from the manifest's server_time, and manifests the agent must refuse without harm."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from hub.agent.clock import Clock
from hub.signing import Keyring

T0 = 1_800_000_000.0


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def test_offset_is_measured_at_the_round_trip_midpoint_and_the_fastest_sample_wins():
    clock = Clock(local=lambda: T0)
    # Sent at T0, answered at T0 + 2: the hub's stamp belongs to T0 + 1, when the hub said T0 + 101.
    assert clock.observe(_at(T0 + 101), T0, T0 + 2) == 100.0
    assert clock.now() == _at(T0 + 100)
    # A slow answer (10 s round trip) says 97: less trustworthy than the 2 s one, so it is ignored.
    assert clock.observe(_at(T0 + 102), T0, T0 + 10) == 100.0
    # A faster one wins.
    assert clock.observe(_at(T0 + 99.5), T0, T0 + 0.2) == pytest.approx(99.4, abs=1e-3)


def _manifest(**overrides) -> bytes:
    sha = "ab" * 32
    body = {"device": "d1", "server_time": "2026-12-01T00:00:00Z", "etag": "e1", "slides": [],
            "items": [{"id": "i1", "bulletin_id": "b1", "priority": "normal", "starts_at": "2026-12-01T00:00:10Z",
                       "ends_at": "2026-12-01T00:00:11Z", "interrupt": False,
                       "media": {"url": f"/media/{sha}", "sha256": sha, "bytes": 10, "duration_s": 1.0,
                                 "mime": "audio/mpeg"}}]}
    body.update(overrides)
    return json.dumps(body).encode()


@pytest.fixture
def keys(tmp_path):
    """A hub's signing keys, and an agent builder that trusts them."""
    return Keyring(tmp_path / "hub-keys")


def trusting(make_agent, keys):
    [public] = keys.public_keys()
    return lambda: make_agent("http://127.0.0.1:9", "token", start=False, trust_keys=public["public_key"])


def test_a_bad_manifest_is_ignored_and_the_previous_one_kept(make_agent, keys, tmp_path):
    # No hub at all: only the parsing and keeping are under test here.
    agent = trusting(make_agent, keys)()
    assert agent.apply(_manifest(), '"e1"', T0, T0, signature=keys.sign(_manifest()))
    for bad in (b"{not json", b"", _manifest(items=[{"id": "i2"}]), _manifest(server_time="yesterday"),
                b"[]", _manifest(items=[{"id": "x", "starts_at": "2026-12-01T00:00:00",  # no offset
                                          "ends_at": "2026-12-01T00:00:01Z", "media": {}}])):
        # Signed, so what refuses them is the parsing.
        assert not agent.apply(bad, '"e2"', T0, T0, signature=keys.sign(bad))
        assert agent.etag == '"e1"' and [i.id for i in agent.manifest.items] == ["i1"]
    assert agent.trust.refused == 0
    # A good manifest without a signature, or signed by another key, or changed after signing.
    other = Keyring(tmp_path / "other-keys")
    newer = _manifest(items=[])
    for signature, body in ((None, newer), (other.sign(newer), newer), (keys.sign(newer), newer + b" ")):
        assert not agent.apply(body, '"e3"', T0, T0, signature=signature)
        assert agent.etag == '"e1"' and [i.id for i in agent.manifest.items] == ["i1"]
    assert agent.trust.refused == 3 and agent.heartbeat_payload()["refused_manifests"] == 3
    agent.stop()

    # The copy on disk is what a restart with the hub down plays from.
    again = trusting(make_agent, keys)()
    assert again.etag == '"e1"' and [i.id for i in again.manifest.items] == ["i1"]
    again.stop()

    # A damaged copy on disk: start with no schedule rather than not start.
    (tmp_path / "agent" / "manifest.json").write_text('{"manifest": {"items": 5}')
    empty = trusting(make_agent, keys)()
    assert empty.manifest is None and empty.etag is None
    empty.stop()


def test_a_pushed_manifest_wakes_the_fetcher_and_an_older_one_never_goes_back_on_disk(make_agent, keys, tmp_path):
    agent = trusting(make_agent, keys)()
    newer = _manifest(items=[])
    real_set = agent.wake.set

    def meanwhile() -> None:
        # The fetcher takes a newer manifest while the listener is between taking its own and saving it.
        agent.wake.set = real_set
        assert agent.apply(newer, '"e2"', T0, T0, signature=keys.sign(newer))
        real_set()

    agent.wake.set = meanwhile
    assert agent.apply(_manifest(), '"e1"', T0, T0, observe_clock=False, pushed=True,
                       signature=keys.sign(_manifest()))
    # Pushed: the fetcher was told to go to the media, without fetching the manifest again.
    assert agent.fetch_now.is_set() and agent.skip_refresh
    assert agent.etag == '"e2"'
    agent.stop()
    again = trusting(make_agent, keys)()
    assert again.etag == '"e2"' and again.manifest.items == []
    again.stop()
