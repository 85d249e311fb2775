"""The content-addressed media store: files named by their sha256, written once, never changed."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

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
        self._lock = threading.Lock()

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

    def put(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        location = self._location(sha256)
        if location.is_file():
            return sha256
        location.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=location.parent, prefix=".tmp-")
        try:
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


def _fsync_dir(path: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
