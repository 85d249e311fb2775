"""The media cache: files named by their sha256, resumed after a cut, verified, renamed into place."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hub.agent.client import HubClient, HubDown
from hub.agent.manifest import Media, fsync_dir

log = logging.getLogger(__name__)
CHUNK = 64 * 1024


class CorruptMedia(Exception):
    """The bytes do not hash to the name the manifest gave: deleted, to be fetched again later."""


class MediaCache:
    """``<dir>/<sha256>`` holds only verified bytes; ``<sha256>.part`` a download in progress.

    A file's mtime is its last use, so eviction is least recently used first.
    """

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.folder / sha256

    def part(self, sha256: str) -> Path:
        return self.folder / f"{sha256}.part"

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def touch(self, sha256: str) -> None:
        try:
            os.utime(self.path(sha256))
        except OSError:
            pass

    def fetch(self, client: HubClient, media: Media) -> int:
        """Make sure ``media`` is cached; return the bytes downloaded (0 if it was there).

        Raises HubDown (try later, the partial file is kept) or CorruptMedia (the file is gone).
        """
        final = self.path(media.sha256)
        if final.is_file():
            return 0
        part = self.part(media.sha256)
        have = part.stat().st_size if part.exists() else 0
        if have > media.bytes:
            part.unlink()
            have = 0
        got, digest = 0, None
        if have < media.bytes or media.bytes == 0:
            got, digest = self._download(client, media, part, have)
        if digest is None:
            # Resumed (or already whole): hash the file as it is on disk.
            digest = hashlib.sha256()
            with open(part, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
        if digest.hexdigest() != media.sha256:
            part.unlink(missing_ok=True)
            raise CorruptMedia(f"{media.url}: sha256 {digest.hexdigest()} is not the manifest's {media.sha256}")
        os.replace(part, final)
        fsync_dir(self.folder)
        return got

    def keep(self, media: Media, data: bytes) -> bool:
        """Cache ``data`` as ``media`` if it is exactly that file (its size and SHA-256, which the
        signed manifest gave): the audio an event carried. False, and nothing kept, otherwise."""
        final = self.path(media.sha256)
        if final.is_file():
            return True
        if len(data) != media.bytes or hashlib.sha256(data).hexdigest() != media.sha256:
            log.warning("media %s carried by the event is not the manifest's file; downloading it",
                        media.sha256[:12])
            return False
        # Its own temporary name: the fetcher may be downloading the same file into .part.
        carried = self.folder / f"{media.sha256}.event"
        with open(carried, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(carried, final)
        fsync_dir(self.folder)
        return True

    def _download(self, client: HubClient, media: Media, part: Path, have: int) -> tuple[int, Any]:
        """Download into ``part``; the bytes got, and the sha256 of the whole file when it was
        written from its first byte here (hashed as it was written, sparing a second read)."""
        response = client.download(media.url, have)
        got = 0
        digest = None
        try:
            if response.status_code == 206 and response.headers.get("content-range", "").startswith(f"bytes {have}-"):
                mode = "ab"
            elif response.status_code == 200:
                # The server ignored the range (or there was none): start again from byte 0.
                mode, have, digest = "wb", 0, hashlib.sha256()
            else:
                raise HubDown(f"{media.url}: unexpected {response.status_code} for a download")
            with open(part, mode) as handle:
                try:
                    for chunk in response.iter_bytes(CHUNK):
                        got += len(chunk)
                        # A server sending more than the manifest announced cannot be right.
                        if have + got > media.bytes:
                            break
                        handle.write(chunk)
                        if digest is not None:
                            digest.update(chunk)
                except Exception as exc:
                    raise HubDown(f"{media.url}: download cut after {got} bytes: {exc}") from exc
                finally:
                    handle.flush()
                    os.fsync(handle.fileno())
        finally:
            response.close()
        return got, digest

    def total_bytes(self) -> int:
        return sum(size for _path, size, _mtime in self._files())

    def _files(self) -> list[tuple[Path, int, float]]:
        files = []
        for path in self.folder.iterdir():
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            if path.is_file():
                files.append((path, stat.st_size, stat.st_mtime))
        return files

    def evict(self, keep: Iterable[str]) -> list[str]:
        """Over the size cap, delete files the manifest no longer names, least recently used first."""
        keep = set(keep)
        files = self._files()
        total = sum(size for _p, size, _m in files)
        removed = []
        for path, size, _mtime in sorted(files, key=lambda f: f[2]):
            if total <= self.max_bytes:
                break
            if path.name.removesuffix(".part") in keep:
                continue
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            total -= size
            removed.append(path.name)
            log.info("evicted %s (%d bytes) from the media cache", path.name, size)
        return removed
