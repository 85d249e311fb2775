"""The content-addressed media store: files named by their sha256, written once, never changed."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hub.errors import HubError

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class MediaStore:
    """Files live at ``root/ab/abcdef…``; a write goes to a temporary name and is renamed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        #: sha256 → MIME type, filled by the media route (immutable, so never invalidated).
        self.mimes: dict[str, str] = {}
        self._recent: OrderedDict[str, bytes] = OrderedDict()
        self._recent_bytes = 0
        self._encoded: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        #: Uploaded audio being decoded or mastered; the hub sets its bounds from the settings.
        self.work = AudioWork()

    def _location(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def path(self, sha256: str) -> Path | None:
        """The file for a known, well-formed name; None otherwise."""
        if not SHA256_RE.match(sha256):
            return None
        location = self._location(sha256)
        return location if location.is_file() else None

    def in_memory(self, sha256: str) -> bytes | None:
        """A file's bytes if the in-memory LRU holds them, without any I/O; else None."""
        with self._lock:
            return self._recent.get(sha256)

    def read_cached(self, sha256: str, *, largest: int = 4 << 20, budget: int = 64 << 20) -> bytes | None:
        """A small file's bytes from a bounded in-memory LRU (None for large or unknown files)."""
        with self._lock:
            data = self._recent.get(sha256)
            if data is not None:
                self._recent.move_to_end(sha256)
                return data
        path = self.path(sha256)
        if path is None or path.stat().st_size > largest:
            return None
        data = path.read_bytes()
        with self._lock:
            if sha256 not in self._recent:
                self._recent[sha256] = data
                self._recent_bytes += len(data)
                while self._recent_bytes > budget:
                    _, dropped = self._recent.popitem(last=False)
                    self._recent_bytes -= len(dropped)
        return data

    def encoded(self, sha256: str, *, read: bool = True) -> bytes | None:
        """A small file's bytes in base64, for an event to carry (hub/api/device.py); the last few
        are kept, since a fleet's events all carry the same emergency. ``read=False``: only what
        needs no I/O (None otherwise)."""
        with self._lock:
            known = self._encoded.get(sha256)
        if known is not None or not read:
            return known
        data = self.read_cached(sha256)
        if data is None:
            return None
        known = base64.b64encode(data)
        with self._lock:
            self._encoded[sha256] = known
            while len(self._encoded) > 8:
                self._encoded.popitem(last=False)
        return known

    def put(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        location = self._location(sha256)
        if location.is_file():
            return sha256
        location.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=location.parent, prefix=".tmp-")
        try:
            # mkstemp makes 0600; the hub's group may read (nginx sends /media/ from this folder).
            os.fchmod(fd, 0o640)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, location)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(location.parent)
        return sha256

    def put_file(self, source: Path) -> str:
        """Store a file's bytes (copied, so the source may be a temporary upload)."""
        return self.put(source.read_bytes())


class Busy(HubError):
    """Every slot for this commune's (or the hub's) audio work is taken: 429, try again shortly."""

    status_code = 429
    retry_after = 10

    def __init__(self) -> None:
        super().__init__("the hub is already processing as many audio uploads for this commune as it allows; "
                         f"try again in {self.retry_after} s")


class AudioWork:
    """Bounds the slow work on uploaded audio (decoding, mastering: ffmpeg for seconds to minutes):
    at most ``per_commune`` at once for one commune and ``total`` in all, in this process.

    A slot is taken without waiting: past the bound the caller is told at once (429), rather than
    queueing requests that hold a spooled upload each (issue 14: one lying MP3 held ffmpeg 225 s).
    """

    def __init__(self, per_commune: int = 2, total: int = 4) -> None:
        self.per_commune, self.total = per_commune, total
        self._running: Counter[str | None] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, commune: str | None) -> Iterator[None]:
        """Hold one slot for ``commune`` (None: province-wide work) while the block runs; Busy if none is free."""
        with self._lock:
            if self._running[commune] >= self.per_commune or sum(self._running.values()) >= self.total:
                raise Busy()
            self._running[commune] += 1
        try:
            yield
        finally:
            with self._lock:
                self._running[commune] -= 1
                if not self._running[commune]:
                    del self._running[commune]


def _fsync_dir(path: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
