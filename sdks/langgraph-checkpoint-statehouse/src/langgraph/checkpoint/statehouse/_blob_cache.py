"""A bounded cache of channel-value records, which never change once written.

A blob's key names its channel and version, and the savers' versions are unique per put
(``next_version`` adds a random fraction), so a record read or written once can be served
again without a round trip. ``delete_thread`` drops the thread's entries.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

__all__ = ["DEFAULT_BLOB_CACHE_BYTES", "BlobCache"]

DEFAULT_BLOB_CACHE_BYTES = 32 * 1024 * 1024
# Charged per entry on top of its serialized bytes (keys, dicts).
_OVERHEAD = 200

Key = tuple[str, str, str]  # Statehouse namespace, thread (agent), blob key


def _size(value: dict[str, Any]) -> int:
    stored = value.get("v")
    return _OVERHEAD + (len(stored[1]) if stored else 0)


class BlobCache:
    """Least recently used first out, at most ``max_bytes`` of serialized values (0: no cache)."""

    def __init__(self, max_bytes: int = DEFAULT_BLOB_CACHE_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError(f"blob_cache_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Key, dict[str, Any]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Key) -> dict[str, Any] | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: Key, value: dict[str, Any]) -> None:
        size = _size(value)
        if size > self.max_bytes:
            return
        with self._lock:
            if (old := self._entries.pop(key, None)) is not None:
                self._bytes -= _size(old)
            self._entries[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= _size(evicted)

    def drop_thread(self, namespace: str, thread_id: str) -> None:
        with self._lock:
            for key in [k for k in self._entries if k[0] == namespace and k[1] == thread_id]:
                self._bytes -= _size(self._entries.pop(key))
