"""Which manifests the agent believes: those signed by a key it trusts (docs/device-protocol.md).

Two ways to trust a key:

- **Given** (``--trust-key``, ``HUB_AGENT_TRUST_KEYS``): the installer copies the hub's public key
  from ``GET /api/v1/device/keys`` or ``hub keys list``. Only those keys are trusted, ever; a
  rotation needs the new key given too (both can be given during the overlap).
- **Trust on first use**, when none is given, so set-ups from before signing keep working: the
  first time, the agent takes the keys the hub publishes, pins them in its cache folder and warns.
  Later keys are learnt only from a key list that is itself signed by a key already pinned, so a
  rotation carries the device over, and a hub or network taken over later cannot.

A manifest that is unsigned or verifies under no trusted key is refused: it is logged, counted
(``refused_manifests`` in the heartbeat) and the agent keeps the last good one.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.signing import key_id, parse_header, public_from_text, raw_public, verify

log = logging.getLogger(__name__)

#: The hub's key list: (body, X-Hub-Signature) of ``GET /api/v1/device/keys``.
KeysFetcher = Callable[[], tuple[bytes, str | None]]


def given_keys(values: list[str]) -> dict[str, Ed25519PublicKey]:
    """Keys from ``--trust-key`` values: base64 text, or ``@file`` holding one key per line."""
    keys: dict[str, Ed25519PublicKey] = {}
    for value in values:
        texts = Path(value[1:]).read_text().split() if value.startswith("@") else value.replace(",", " ").split()
        for text in texts:
            public = public_from_text(text)
            keys[key_id(public)] = public
    return keys


class Trust:
    def __init__(self, given: dict[str, Ed25519PublicKey], pin_file: Path) -> None:
        self.given = bool(given)
        self.keys = dict(given)
        self.pin_file = pin_file
        self.refused = 0
        self._lock = threading.Lock()
        if not self.given:
            self.keys = self._load_pins()

    def check(self, body: bytes, header: str | None, fetch_keys: KeysFetcher | None) -> bool:
        """True if ``body`` is signed by a trusted key (pinning the hub's keys on first use)."""
        with self._lock:
            if not self.keys and fetch_keys is not None:
                self._first_use(fetch_keys)
            kid = verify(body, header, self.keys)
            if kid is not None:
                if not self.given and fetch_keys is not None and \
                        any(other not in self.keys for other, _sig in parse_header(header)):
                    self._learn(fetch_keys)
                return True
            self.refused += 1
        named = ", ".join(k for k, _ in parse_header(header)) or "none"
        log.error("refused a manifest: %s (signed by: %s; trusted: %s); playing the last good one",
                  "unsigned" if not header else "its signature verifies under no trusted key", named,
                  ", ".join(sorted(self.keys)) or "none")
        return False

    # --- trust on first use ---------------------------------------------------------------------

    def _first_use(self, fetch_keys: KeysFetcher) -> None:
        try:
            listed = _listed(fetch_keys()[0])
        except Exception as exc:  # the hub's answer is not trusted yet: anything wrong means "not now"
            log.warning("cannot read the hub's signing keys: %s", exc)
            return
        if not listed:
            return
        self.keys = listed
        self._save_pins()
        log.warning("trusting the hub's signing key(s) %s on first use (pinned in %s); give --trust-key "
                    "to say which key to trust instead", ", ".join(sorted(listed)), self.pin_file)

    def _learn(self, fetch_keys: KeysFetcher) -> None:
        """New keys from a key list signed by a pinned key (a rotation's overlap)."""
        try:
            body, header = fetch_keys()
            if verify(body, header, self.keys) is None:
                log.warning("the hub's key list is not signed by a pinned key; not learning new keys from it")
                return
            listed = _listed(body)
        except Exception as exc:
            log.warning("cannot read the hub's signing keys: %s", exc)
            return
        new = {kid: public for kid, public in listed.items() if kid not in self.keys}
        if new:
            self.keys.update(new)
            self._save_pins()
            log.info("pinned the hub's new signing key(s) %s (announced under a pinned key)", ", ".join(sorted(new)))

    def _load_pins(self) -> dict[str, Ed25519PublicKey]:
        try:
            return given_keys(json.loads(self.pin_file.read_text()))
        except FileNotFoundError:
            return {}
        except (ValueError, OSError) as exc:
            log.error("ignoring the pinned keys in %s: %s", self.pin_file, exc)
            return {}

    def _save_pins(self) -> None:
        texts = [base64.b64encode(raw_public(public)).decode() for public in self.keys.values()]
        tmp = self.pin_file.with_name(self.pin_file.name + ".tmp")
        try:
            with open(tmp, "w") as handle:
                json.dump(texts, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.pin_file)
        except OSError as exc:
            log.error("cannot save the pinned keys to %s: %s", self.pin_file, exc)


def _listed(body: bytes) -> dict[str, Ed25519PublicKey]:
    keys = {}
    for entry in json.loads(body):
        if entry.get("algorithm") == "ed25519":
            public = public_from_text(entry["public_key"])
            if key_id(public) == entry.get("id"):
                keys[entry["id"]] = public
    return keys
