"""``HUB_INGEST_*``: who may post CAP alerts without a user token, whose alerts air unreviewed, feed polling."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

KEY_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
#: A plaintext key shorter than this is refused at start-up: it could be guessed.
MIN_KEY_CHARS = 24


@dataclass(frozen=True)
class IngestKey:
    """One upstream system's key: its name and the sha256 of its token (the token itself is not kept)."""

    name: str
    digest: bytes


def _csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def parse_key(entry: str) -> IngestKey:
    """``name=token`` or ``name=sha256:<64 hex digits>`` (the digest of the token, so the setting holds no secret)."""
    name, sep, secret = entry.partition("=")
    name, secret = name.strip(), secret.strip()
    if not sep or not KEY_NAME_RE.match(name):
        raise ValueError(f"HUB_INGEST_KEYS entry {name or entry!r}: expected name=token with a name of "
                         "letters, digits, '.', '_' or '-'")
    if secret.startswith("sha256:"):
        hexdigest = secret.removeprefix("sha256:").lower()
        if not re.fullmatch(r"[0-9a-f]{64}", hexdigest):
            raise ValueError(f"HUB_INGEST_KEYS entry {name!r}: sha256: must be followed by 64 hex digits")
        return IngestKey(name, bytes.fromhex(hexdigest))
    if len(secret) < MIN_KEY_CHARS:
        raise ValueError(f"HUB_INGEST_KEYS entry {name!r}: the token must have at least {MIN_KEY_CHARS} characters")
    return IngestKey(name, hashlib.sha256(secret.encode()).digest())


class IngestSettings(BaseSettings):
    """Defaults: no upstream keys (only editors may post CAP), nothing trusted, feeds polled every 5 minutes."""

    model_config = SettingsConfigDict(env_prefix="HUB_INGEST_", extra="ignore")

    #: Upstream systems that may post CAP without a user token: ``name=token,name2=sha256:<hex>``.
    keys: Annotated[list[IngestKey], NoDecode] = []
    #: Key names whose alerts are approved on arrival by a second system principal (see docs/ingest.md).
    trusted: Annotated[list[str], NoDecode] = []
    #: geocode valueNames whose value is a hub commune code (compared without regard to case).
    geocode_names: Annotated[list[str], NoDecode] = ["commune"]
    #: Seconds between feed polls; 0 switches the background poller off (``hub sources poll`` still works).
    poll_s: float = Field(default=300.0, ge=0)
    #: Seconds to connect and to wait for data when fetching a feed.
    fetch_timeout_s: float = Field(default=15.0, gt=0)
    #: A feed larger than this is refused (stored as the source's last_error).
    max_feed_bytes: int = Field(default=5_000_000, gt=0)
    user_agent: str = "grassroots-hub feed importer"

    @field_validator("keys", mode="before")
    @classmethod
    def _keys(cls, value: object) -> object:
        entries = _csv(value)
        if isinstance(entries, list):
            keys = [entry if isinstance(entry, IngestKey) else parse_key(entry) for entry in entries]
            names = [key.name for key in keys]
            duplicates = sorted({name for name in names if names.count(name) > 1})
            if duplicates:
                raise ValueError(f"HUB_INGEST_KEYS names a key more than once: {', '.join(duplicates)}")
            return keys
        return value

    @field_validator("trusted", "geocode_names", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        return _csv(value)

    @model_validator(mode="after")
    def _trusted_are_keys(self) -> "IngestSettings":
        unknown = sorted(set(self.trusted) - {key.name for key in self.keys})
        if unknown:
            raise ValueError(f"HUB_INGEST_TRUSTED names no key of HUB_INGEST_KEYS: {', '.join(unknown)}")
        return self

    def match_key(self, token: str | None) -> IngestKey | None:
        """The key this token is, compared in constant time against every key (no early exit)."""
        if not token:
            return None
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for key in self.keys:
            if hmac.compare_digest(digest, key.digest):
                found = key
        return found

    def is_trusted(self, key: IngestKey | None) -> bool:
        return key is not None and key.name in self.trusted
