"""A small content-keyed file cache: a data file plus a JSON sidecar, both written atomically."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def cache_key(**parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary name beside ``path`` and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class FileCache:
    """Entries live at ``root/ab/abcdef….<suffix>``; the sidecar is written last and marks completeness.

    No fsync: a cache entry lost in a power cut is only recomputed.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def _base(self, key: str) -> Path:
        return self.root / key[:2] / key

    def get(self, key: str) -> tuple[bytes, dict[str, Any]] | None:
        base = self._base(key)
        try:
            meta = json.loads(base.with_suffix(".json").read_text(encoding="utf-8"))
            data = base.with_suffix("." + meta["suffix"]).read_bytes()
        except (OSError, ValueError, KeyError):
            return None
        return data, meta

    def put(self, key: str, data: bytes, suffix: str, meta: dict[str, Any]) -> None:
        base = self._base(key)
        atomic_write(base.with_suffix("." + suffix), data)
        sidecar = {**meta, "suffix": suffix}
        atomic_write(base.with_suffix(".json"), json.dumps(sidecar, ensure_ascii=False).encode("utf-8"))

    def discard(self, key: str) -> None:
        """Forget an entry (the sidecar first, so a reader never sees it half gone)."""
        base = self._base(key)
        sidecar = base.with_suffix(".json")
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = None
        suffix = meta.get("suffix") if isinstance(meta, dict) else None
        sidecar.unlink(missing_ok=True)
        if isinstance(suffix, str) and suffix:
            base.with_suffix("." + suffix).unlink(missing_ok=True)
