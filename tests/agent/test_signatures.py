"""Signed manifests (issue 14): what a real hub sends verifies independently; agents refuse the rest.

The verification here is written from CONTRACT.md §Signed content with ``cryptography`` directly,
not with hub.signing's helpers, so a mistake in those cannot hide itself.
"""

from __future__ import annotations

import base64
import json
import re
import stat
from datetime import datetime, timedelta, timezone

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.cli import main as hub_cli
from hub.signing import Keyring
from hub.testing import wait_until

PAIR = re.compile(r"keyid=([0-9a-f]+), sig=([A-Za-z0-9+/=]+)")


def published_keys(url: str) -> dict[str, Ed25519PublicKey]:
    response = httpx.get(url + "/api/v1/device/keys", timeout=10)  # public: no token
    assert response.status_code == 200
    listed = response.json()
    assert listed and all(entry["algorithm"] == "ed25519" for entry in listed)
    return {entry["id"]: Ed25519PublicKey.from_public_bytes(base64.b64decode(entry["public_key"])) for entry in listed}


def verifies(body: bytes, header: str, keys: dict[str, Ed25519PublicKey]) -> set[str]:
    """The key ids whose signature in ``header`` verifies ``body``."""
    good = set()
    for kid, sig in PAIR.findall(header):
        try:
            keys[kid].verify(base64.b64decode(sig), body)
            good.add(kid)
        except (KeyError, InvalidSignature):
            pass
    return good


def first_event(url: str, token: str) -> str:
    with httpx.stream("GET", url + "/api/v1/device/events", headers={"Authorization": f"Bearer {token}"},
                      timeout=10) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                return line.removeprefix("data: ")
    raise AssertionError("no event")


def test_every_manifest_a_real_hub_sends_is_signed(live_hub, tmp_path):
    live_hub.people.device("loa-1", "X1")
    token = live_hub.people.tokens["loa-1"]
    keys = published_keys(live_hub.url)
    [kid] = keys
    headers = {"Authorization": f"Bearer {token}"}
    # The first answer is built by the route, the next ones come from the fast path: both signed.
    for _ in range(3):
        response = httpx.get(live_hub.url + "/api/v1/device/manifest", headers=headers, timeout=10)
        assert response.status_code == 200
        assert verifies(response.content, response.headers["x-hub-signature"], keys) == {kid}
    # One byte changed and it no longer verifies.
    tampered = response.content.replace(b'"items"', b'"itens"', 1)
    assert verifies(tampered, response.headers["x-hub-signature"], keys) == set()
    # The event stream's manifest: the bytes after ',"manifest":' up to the final '}'.
    data = first_event(live_hub.url, token)
    announced = json.loads(data)
    raw = data[data.index(',"manifest":') + len(',"manifest":'):data.rindex("}")].encode()
    assert json.loads(raw) == announced["manifest"]
    assert verifies(raw, announced["signature"], keys) == {kid}
    # The key list is signed too (an agent learns a rotation's new key from it).
    listing = httpx.get(live_hub.url + "/api/v1/device/keys", timeout=10)
    assert verifies(listing.content, listing.headers["x-hub-signature"], keys) == {kid}
    # The private key is the hub's alone.
    folder = live_hub.settings.data_dir / "keys"
    assert stat.S_IMODE((folder / f"{kid}.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_an_agent_with_a_wrong_key_refuses_and_keeps_its_schedule(live_hub, make_agent, player_log, tmp_path):
    live_hub.people.device("loa-1", "X1")
    token = live_hub.people.tokens["loa-1"]
    [right] = [k["public_key"] for k in live_hub.hub.keys.public_keys()]
    cache = tmp_path / "cache"
    agent = make_agent(live_hub.url, token, cache=cache, trust_keys=right, poll_s=0.5)
    wait_until(lambda: agent.etag is not None, timeout=15, what="the first manifest")
    good_etag = agent.etag
    agent.stop()

    wrong = Keyring(tmp_path / "somebody-else").public_keys()[0]["public_key"]
    live_hub.approved("X1", priority="emergency")  # the manifest changes: a new ETag it must not take
    agent = make_agent(live_hub.url, token, cache=cache, trust_keys=wrong, poll_s=0.5)
    assert agent.etag == good_etag  # the saved manifest, from before
    wait_until(lambda: agent.trust.refused >= 2, timeout=15, what="manifests refused")
    assert agent.etag == good_etag and agent.manifest is not None
    assert player_log.events("start") == []  # the emergency in the refused manifest never aired
    # The hub hears of it in the heartbeat.
    wait_until(lambda: _heartbeat(live_hub, "loa-1").get("refused_manifests", 0) >= 1, timeout=15,
               what="the refusals in a heartbeat")


def test_rotation_an_agent_trusting_the_old_key_then_both(live_hub, make_agent, tmp_path, monkeypatch):
    # ``hub keys`` in this process acts on the live hub's data folder, as on its machine.
    monkeypatch.setenv("HUB_DATA_DIR", str(live_hub.settings.data_dir))
    live_hub.people.device("loa-1", "X1")
    token = live_hub.people.tokens["loa-1"]
    keys = live_hub.hub.keys
    [old] = keys.public_keys()
    old_only = make_agent(live_hub.url, token, cache=tmp_path / "a", trust_keys=old["public_key"], poll_s=0.3)
    tofu = make_agent(live_hub.url, token, cache=tmp_path / "b", poll_s=0.3)
    wait_until(lambda: old_only.etag and tofu.etag, timeout=15, what="the first manifests")
    assert set(tofu.trust.keys) == {old["id"]}  # pinned on first use

    # A rotation with an overlap: both keys sign, so the agent that knows only the old one goes on.
    new = keys.rotate(timedelta(days=30))
    assert set(published_keys(live_hub.url)) == {old["id"], new.id}
    live_hub.approved("X1", priority="emergency")
    etag = _hub_etag(live_hub, token)
    wait_until(lambda: old_only.etag == etag and tofu.etag == etag, timeout=15, what="the signed-by-both manifest")
    assert old_only.trust.refused == 0
    # The pinning agent learnt the new key from a key list signed by the old one.
    wait_until(lambda: new.id in tofu.trust.keys, timeout=15, what="the new key pinned")

    # The overlap ends (``hub keys retire``, or its days pass): only the new key signs. The agent
    # that knows only the old key refuses; one given both keys, and the pinning one, go on.
    assert hub_cli(["keys", "retire", old["id"]]) == 0
    # The serving process looks at the key folder at most once a second.
    wait_until(lambda: set(published_keys(live_hub.url)) == {new.id}, timeout=5, what="the old key retired")
    both = make_agent(live_hub.url, token, cache=tmp_path / "c", poll_s=0.3,
                      trust_keys=f"{old['public_key']},{new.public_b64}")
    live_hub.approved("X1", priority="emergency")
    etag = _hub_etag(live_hub, token)
    wait_until(lambda: both.etag == etag and tofu.etag == etag, timeout=15,
               what="the agents trusting the new key taking the new manifest")
    wait_until(lambda: old_only.trust.refused >= 1, timeout=15, what="the old-key-only agent refusing")
    assert old_only.etag != etag
    assert hub_cli(["keys", "retire", new.id]) == 2  # the newest key cannot be retired


def _hub_etag(live_hub, token: str) -> str:
    response = httpx.get(live_hub.url + "/api/v1/device/manifest", headers={"Authorization": f"Bearer {token}"},
                         timeout=10)
    return response.headers["etag"]


def _heartbeat(live_hub, name: str) -> dict:
    from hub.models import Device

    with live_hub.hub.store.reader() as session:
        device = session.get(Device, live_hub.people.ids[name])
        return dict(device.heartbeat or {}) if device is not None else {}


def test_keyring_first_start_rotation_and_overlap(tmp_path):
    keys = Keyring(tmp_path / "keys")
    [first] = keys.signing()
    assert Keyring(tmp_path / "keys").signing()[0].id == first.id  # the same key after a restart
    now = datetime.now(timezone.utc)
    second = keys.rotate(timedelta(hours=1), now=now)
    assert [k.id for k in keys.signing(now)] == [second.id, first.id]
    assert [k.id for k in keys.signing(now + timedelta(hours=2))] == [second.id]
    # Another process (hub keys rotate) changed the folder: this one sees it at its next signature.
    other = Keyring(tmp_path / "keys")
    third = other.rotate(timedelta(0))
    keys._checked_at = float("-inf")  # it looks at the folder at most once a second
    assert [k.id for k in keys.signing()] == [third.id]


def test_the_documented_test_vector_holds(tmp_path):
    """docs/device-protocol.md's vector: recomputed here with cryptography, and checked by the hub's verify."""
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from hub.signing import key_id, verify

    doc = (Path(__file__).parents[2] / "docs" / "device-protocol.md").read_text()
    seed = re.search(r"seed \(hex\) \| `([0-9a-f]{64})`", doc).group(1)
    public_b64 = re.search(r"public key \(base64\) \| `([^`]+)`", doc).group(1)
    body = re.search(r"body \(the 26 bytes\) \| `([^`]+)`", doc).group(1).encode()
    header = re.search(r"\| header \| `([^`]+)`", doc).group(1)
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed))
    public = private.public_key()
    assert base64.b64encode(public.public_bytes_raw()).decode() == public_b64
    assert header == f"keyid={key_id(public)}, sig={base64.b64encode(private.sign(body)).decode()}"
    assert verify(body, header, {key_id(public): public}) == key_id(public)
    assert verify(body + b" ", header, {key_id(public): public}) is None


def test_trust_key_values(tmp_path):
    from hub.agent.trust import given_keys

    keys = Keyring(tmp_path / "k")
    [entry] = keys.public_keys()
    (tmp_path / "key.txt").write_text(entry["public_key"] + "\n")
    assert set(given_keys([f"@{tmp_path / 'key.txt'}"])) == {entry["id"]}
    assert set(given_keys([entry["public_key"], ""])) == {entry["id"]}
    for bad in ("not-base64!", base64.b64encode(b"short").decode()):
        try:
            given_keys([bad])
        except ValueError as exc:
            assert "Ed25519" in str(exc)
        else:
            raise AssertionError(f"{bad!r} was accepted")
