"""The blob cache: bounded by bytes, least recently used out, a thread's entries dropped on delete."""

from __future__ import annotations

import pytest

from langgraph.checkpoint.statehouse._blob_cache import BlobCache


def blob(size: int) -> dict[str, object]:
    return {"v": ["msgpack", "x" * size]}


def test_it_evicts_the_least_recently_used_beyond_its_bytes() -> None:
    cache = BlobCache(max_bytes=3 * (1000 + 200))
    for name in "abc":
        cache.put(("ns", "t", name), blob(1000))
    assert cache.get(("ns", "t", "a")) is not None  # a is now the most recent
    cache.put(("ns", "t", "d"), blob(1000))
    assert cache.get(("ns", "t", "b")) is None
    assert all(cache.get(("ns", "t", k)) is not None for k in "acd")
    cache.put(("ns", "t", "huge"), blob(10_000))  # larger than the whole cache: not kept
    assert cache.get(("ns", "t", "huge")) is None and cache.get(("ns", "t", "a")) is not None


def test_drop_thread_and_off() -> None:
    cache = BlobCache()
    cache.put(("ns", "t1", "k"), blob(1))
    cache.put(("ns", "t2", "k"), blob(1))
    cache.drop_thread("ns", "t1")
    assert cache.get(("ns", "t1", "k")) is None and cache.get(("ns", "t2", "k")) is not None
    off = BlobCache(0)
    off.put(("ns", "t", "k"), blob(1))
    assert off.get(("ns", "t", "k")) is None
    with pytest.raises(ValueError, match="blob_cache_bytes"):
        BlobCache(-1)
