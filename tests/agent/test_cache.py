"""The media cache: resumed downloads, verification, eviction."""

from __future__ import annotations

import hashlib
import os
import time
from contextlib import closing

import pytest

from hub.agent.cache import CorruptMedia, MediaCache
from hub.agent.client import HubClient
from hub.agent.manifest import Media


def _media(data: bytes, sha256: str | None = None, url_sha: str | None = None) -> Media:
    sha = hashlib.sha256(data).hexdigest()
    return Media(url=f"/media/{url_sha or sha}", sha256=sha256 or sha, bytes=len(data), duration_s=1.0)


def test_a_cut_download_resumes_with_a_range_request(live_hub, tmp_path):
    live_hub.people.device("loa-1", "X1")
    data = os.urandom(300_000)
    live_hub.stored(data)
    media = _media(data)
    cache = MediaCache(tmp_path / "media", max_bytes=10**9)
    # What a dropped 3G connection leaves behind: the first part of the file.
    cache.part(media.sha256).write_bytes(data[:123_456])
    with closing(HubClient(live_hub.url, live_hub.people.tokens["loa-1"])) as client:
        got = cache.fetch(client, media)
    assert got == len(data) - 123_456  # only the rest came over the wire
    assert cache.path(media.sha256).read_bytes() == data
    assert not cache.part(media.sha256).exists()


def test_bytes_that_do_not_match_the_sha256_are_deleted_and_fetched_again(live_hub, tmp_path):
    live_hub.people.device("loa-1", "X1")
    data = os.urandom(50_000)
    live_hub.stored(data)
    media = _media(data)
    cache = MediaCache(tmp_path / "media", max_bytes=10**9)
    cache.part(media.sha256).write_bytes(os.urandom(20_000))  # a corrupt beginning
    with closing(HubClient(live_hub.url, live_hub.people.tokens["loa-1"])) as client:
        with pytest.raises(CorruptMedia):
            cache.fetch(client, media)
        assert not cache.has(media.sha256) and not cache.part(media.sha256).exists()
        assert cache.fetch(client, media) == len(data)  # the next round starts over and succeeds
        assert cache.path(media.sha256).read_bytes() == data

        # A manifest naming other bytes than the URL serves: never used.
        other = os.urandom(1000)
        wrong = _media(data, sha256=hashlib.sha256(other).hexdigest())
        with pytest.raises(CorruptMedia):
            cache.fetch(client, wrong)
        assert not cache.has(wrong.sha256)


def test_eviction_removes_unreferenced_media_least_recently_used_first(tmp_path):
    cache = MediaCache(tmp_path / "media", max_bytes=2500)
    names = {}
    for age, name in enumerate(["a", "b", "c", "d"]):
        data = name.encode() * 1000
        sha = hashlib.sha256(data).hexdigest()
        cache.path(sha).write_bytes(data)
        stamp = time.time() - 1000 + age  # a is the least recently used
        os.utime(cache.path(sha), (stamp, stamp))
        names[name] = sha
    # "a" is oldest but still in the manifest; "b" and "c" are not, "d" is.
    removed = cache.evict({names["a"], names["d"]})
    assert removed == [names["b"], names["c"]]
    assert cache.has(names["a"]) and cache.has(names["d"])
    assert cache.evict({names["a"], names["d"]}) == []  # still over the cap, but all are needed
