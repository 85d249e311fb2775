"""Signed manifests: the hub's Ed25519 keys, and the ``X-Hub-Signature`` over the bytes it sends.

A loudspeaker that plays whatever a server tells it is a public-address system for whoever takes
over that server or the network in between; a device that checks every manifest against a key it
trusts plays only what this hub signed. Media are named by their SHA-256 inside the manifest, so
the signature covers them too.

Keys live in ``<data>/keys/``: one PKCS#8 PEM file per private key (mode 600), and ``keys.json``
naming each key's id, when it was made and until when it signs. The first start makes one;
``hub keys rotate`` adds a new key and gives the others an end (the overlap), during which every
answer is signed by each of them, newest first, so devices can be moved to the new key while
the old one still verifies. A key id is the first 16 hex digits of the SHA-256 of its raw public key.

The header (CONTRACT.md §Signed content): ``X-Hub-Signature: keyid=<id>, sig=<base64>``; during an
overlap, more ``keyid=…, sig=…`` pairs follow, comma-separated. Built on the ``cryptography``
package's Ed25519 (its documentation: "Ed25519 signing", hazmat/primitives/asymmetric/ed25519).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

HEADER = "X-Hub-Signature"
#: How long the keys a rotation replaces go on signing, unless told otherwise.
DEFAULT_OVERLAP = timedelta(days=30)
_PAIR = re.compile(r"\s*keyid=([0-9a-f]{16})\s*,\s*sig=([A-Za-z0-9+/=]+)\s*(?:,|$)")


def key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public(public)).hexdigest()[:16]


def raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_from_text(text: str) -> Ed25519PublicKey:
    """A public key from its base64 (the 32 raw bytes, as ``GET /api/v1/device/keys`` gives it)."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise ValueError(f"not a base64 Ed25519 public key (32 bytes): {text.strip()[:60]!r}") from exc


def parse_header(value: str | None) -> list[tuple[str, bytes]]:
    """The (key id, signature) pairs of a header; [] when absent or malformed."""
    if not value:
        return []
    pairs, position = [], 0
    while position < len(value):
        match = _PAIR.match(value, position)
        if match is None:
            return []
        try:
            pairs.append((match.group(1), base64.b64decode(match.group(2), validate=True)))
        except ValueError:
            return []
        position = match.end()
    return pairs


def verify(body: bytes, header: str | None, trusted: dict[str, Ed25519PublicKey]) -> str | None:
    """The id of a trusted key whose signature in ``header`` verifies ``body``, else None."""
    for kid, signature in parse_header(header):
        public = trusted.get(kid)
        if public is None:
            continue
        try:
            public.verify(signature, body)
            return kid
        except InvalidSignature:
            continue
    return None


@dataclass(frozen=True)
class SigningKey:
    id: str
    private: Ed25519PrivateKey
    created_at: datetime
    #: Signs until then (None: no end); set on the older keys by a rotation.
    until: datetime | None = None

    @property
    def public_b64(self) -> str:
        return base64.b64encode(raw_public(self.private.public_key())).decode()

    def signs_at(self, now: datetime) -> bool:
        return self.until is None or now < self.until


class Keyring:
    """The hub's signing keys in a folder; every process of one hub reads the same folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._keys: list[SigningKey] = []
        self._loaded_mtime: float | None = None
        self._checked_at = float("-inf")
        self.reload(create=True)

    # --- reading ---------------------------------------------------------------------------

    def reload(self, *, create: bool = False) -> None:
        index = self.folder / "keys.json"
        with self._lock:
            if create and not index.exists():
                with self._folder_lock():
                    if not index.exists():
                        self._create_first()
            entries = json.loads(index.read_text())
            keys = []
            for entry in entries:
                pem = (self.folder / f"{entry['id']}.pem").read_bytes()
                private = serialization.load_pem_private_key(pem, password=None)
                if not isinstance(private, Ed25519PrivateKey) or key_id(private.public_key()) != entry["id"]:
                    raise ValueError(f"{self.folder / (entry['id'] + '.pem')} is not the Ed25519 key {entry['id']}")
                keys.append(SigningKey(entry["id"], private, _time(entry["created_at"]), _time(entry.get("until"))))
            self._keys = sorted(keys, key=lambda k: k.created_at, reverse=True)
            self._loaded_mtime = index.stat().st_mtime

    def _fresh(self) -> None:
        # Another process (``hub keys rotate``) may have changed the folder. Looked at once a second
        # at most: this runs for every manifest answer, and a rotation can wait a second.
        now = time.monotonic()
        if now < self._checked_at + 1.0:
            return
        self._checked_at = now
        try:
            mtime = (self.folder / "keys.json").stat().st_mtime
        except FileNotFoundError:
            return
        if mtime != self._loaded_mtime:
            self.reload()

    def signing(self, now: datetime | None = None) -> list[SigningKey]:
        """The keys that sign now, newest first (at least the newest, whatever its end says)."""
        self._fresh()
        now = now or datetime.now(timezone.utc)
        keys = self._keys
        live = [k for k in keys if k.signs_at(now)]
        return live or keys[:1]

    def public_keys(self, now: datetime | None = None) -> list[dict[str, str]]:
        """``GET /api/v1/device/keys``: the keys that sign now."""
        return [{"id": k.id, "algorithm": "ed25519", "public_key": k.public_b64} for k in self.signing(now)]

    def sign(self, body: bytes, now: datetime | None = None) -> str:
        """The ``X-Hub-Signature`` value for these exact bytes."""
        return ", ".join(f"keyid={k.id}, sig={base64.b64encode(k.private.sign(body)).decode()}"
                         for k in self.signing(now))

    # --- writing ---------------------------------------------------------------------------

    def rotate(self, overlap: timedelta = DEFAULT_OVERLAP, now: datetime | None = None) -> SigningKey:
        """Add a new key; every older key still signing signs until ``now + overlap``."""
        now = now or datetime.now(timezone.utc)
        with self._lock, self._folder_lock():
            entries = json.loads((self.folder / "keys.json").read_text())
            end = now + overlap
            for entry in entries:
                until = _time(entry.get("until"))
                if until is None or until > end:
                    entry["until"] = end.isoformat()
            new = self._write_key(now)
            entries.append({"id": new.id, "created_at": now.isoformat(), "until": None})
            self._write_index(entries)
        self.reload()
        return new

    def retire(self, kid: str, now: datetime | None = None) -> None:
        """End a key's overlap now (``hub keys retire``); the newest key cannot be retired."""
        now = now or datetime.now(timezone.utc)
        with self._lock, self._folder_lock():
            entries = json.loads((self.folder / "keys.json").read_text())
            newest = max(entries, key=lambda e: e["created_at"])
            if kid == newest["id"]:
                raise ValueError(f"{kid} is the newest key: rotate first, then retire the old one")
            matching = [e for e in entries if e["id"] == kid]
            if not matching:
                raise ValueError(f"no signing key {kid}")
            matching[0]["until"] = now.isoformat()
            self._write_index(entries)
        self.reload()

    def _folder_lock(self):
        """An exclusive lock across processes (``hub serve``, ``hub worker``, ``hub keys rotate``)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        return _Flock(self.folder / ".lock")

    def _create_first(self) -> None:
        now = datetime.now(timezone.utc)
        key = self._write_key(now)
        self._write_index([{"id": key.id, "created_at": now.isoformat(), "until": None}])

    def _write_key(self, now: datetime) -> SigningKey:
        private = Ed25519PrivateKey.generate()
        kid = key_id(private.public_key())
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        path = self.folder / f"{kid}.pem"
        # Made with mode 600 from the start: never readable by others, not even for a moment.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        return SigningKey(kid, private, now)

    def _write_index(self, entries: list[dict]) -> None:
        index = self.folder / "keys.json"
        tmp = index.with_name("keys.json.tmp")
        with open(tmp, "w") as handle:
            json.dump(entries, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, index)


class _Flock:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> "_Flock":
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
