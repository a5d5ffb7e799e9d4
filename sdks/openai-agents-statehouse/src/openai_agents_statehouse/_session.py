"""``StatehouseSession``: an OpenAI Agents SDK session whose history lives in Statehouse."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from agents.items import TResponseInputItem
from agents.memory.session_settings import SessionSettings, resolve_session_limit
from statehouse import AsyncStatehouse, AsyncTransaction

__all__ = ["StatehouseSession"]

DEFAULT_NAMESPACE = "openai-agents"
META = "meta"
ITEM_PREFIX = "i/"
# Sequence numbers count down from here, so the newest item's key sorts first.
_TOP = 10**16 - 1
# Conflicting writers retry their transaction this often before giving up.
RETRIES = 50


def item_key(seq: int) -> str:
    return f"{ITEM_PREFIX}{_TOP - seq:016d}"


class StatehouseSession:
    """A conversation history in one Statehouse agent (``agent_id = session_id``).

    Items are ``i/<n>`` records (the item as exact JSON text, newest first in key order) and
    ``meta`` holds the next sequence number. ``add_items``, ``pop_item`` and ``clear_session``
    are each one transaction that reads ``meta``, so concurrent writers (processes included)
    never lose or interleave a batch: a conflict reruns the transaction. ``get_items`` reads one
    consistent view (as of the last commit to ``meta``), so a reader never sees half a batch.
    """

    session_settings: SessionSettings | None

    def __init__(
        self,
        session_id: str,
        client: AsyncStatehouse,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        session_settings: SessionSettings | None = None,
    ) -> None:
        self.session_id = session_id
        self.client = client
        self.namespace = namespace
        self.session_settings = session_settings

    @classmethod
    @asynccontextmanager
    async def from_url(
        cls, session_id: str, url: str = "localhost:50051", *, namespace: str = DEFAULT_NAMESPACE, **options: Any
    ) -> AsyncIterator[StatehouseSession]:
        """A session on its own client, closed when the block ends."""
        settings = options.pop("session_settings", None)
        async with AsyncStatehouse(url=url, **options) as client:
            yield cls(session_id, client, namespace=namespace, session_settings=settings)

    async def _next(self, tx: AsyncTransaction) -> int:
        meta = await tx.get(self.session_id, META, namespace=self.namespace)
        return int((meta.value or {}).get("next", 0))

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The latest ``limit`` items (all when None), oldest first."""
        limit = resolve_session_limit(limit, self.session_settings)
        if limit is not None and limit <= 0:
            return []
        meta = await self.client.get_state(self.session_id, META, self.namespace)
        if not meta.exists:
            return []
        newest_first: list[TResponseInputItem] = []
        view = self.client.iter_agent_state_as_of(self.session_id, meta.commit_ts, self.namespace, page_size=limit)
        async for record in view:
            if not (record.key or "").startswith(ITEM_PREFIX):
                break  # "meta" sorts after every item
            newest_first.append(json.loads((record.value or {})["json"]))
            if limit is not None and len(newest_first) >= limit:
                break
        return newest_first[::-1]

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Appends the items in one transaction (all or none)."""
        if not items:
            return
        texts = [json.dumps(item, separators=(",", ":")) for item in items]

        async def append(tx: AsyncTransaction) -> None:
            first = await self._next(tx)
            for offset, text in enumerate(texts):
                tx.write(self.session_id, item_key(first + offset), {"json": text}, namespace=self.namespace)
            tx.write(self.session_id, META, {"next": first + len(texts)}, namespace=self.namespace)

        await self.client.run_transaction(append, retries=RETRIES)

    async def pop_item(self) -> TResponseInputItem | None:
        """Removes and returns the newest item (None when the session is empty)."""

        async def pop(tx: AsyncTransaction) -> TResponseInputItem | None:
            following = await self._next(tx)  # read first: a change after it fails the commit
            page = self.client.iter_scan_prefix(self.session_id, ITEM_PREFIX, self.namespace, page_size=1)
            newest = await anext(page, None)
            if newest is None or newest.key is None:
                return None
            tx.delete(self.session_id, newest.key, namespace=self.namespace)
            tx.write(self.session_id, META, {"next": following}, namespace=self.namespace)
            item: TResponseInputItem = json.loads((newest.value or {})["json"])
            return item

        result: TResponseInputItem | None = await self.client.run_transaction(pop, retries=RETRIES)
        return result

    async def clear_session(self) -> None:
        """Deletes every item in one transaction (sequence numbers are never reused)."""

        async def clear(tx: AsyncTransaction) -> None:
            following = await self._next(tx)
            for key in await self.client.list_keys(self.session_id, self.namespace, prefix=ITEM_PREFIX):
                tx.delete(self.session_id, key, namespace=self.namespace)
            tx.write(self.session_id, META, {"next": following}, namespace=self.namespace)

        await self.client.run_transaction(clear, retries=RETRIES)
