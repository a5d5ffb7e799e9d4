"""``StatehouseStore``: LangGraph's long-term memory (``BaseStore``) on Statehouse."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)

# LangGraph's own matching rules (namespace conditions; $eq/$ne/$gt/$gte/$lt/$lte and nested
# equality in filters), so this store answers exactly as InMemoryStore does.
from langgraph.store.memory import _compare_values, _does_match

from statehouse import Statehouse, StateResult

__all__ = ["StatehouseStore"]

DEFAULT_NAMESPACE = "langgraph-store"
AGENT = "store"
_ITEM = "="


def namespace_prefix(namespace: tuple[str, ...]) -> str:
    """Every label URL-encoded and ended by '/', so ("a",) is a prefix of ("a", "b") but not of ("ab",)."""
    return "".join(f"{quote(label, safe='')}/" for label in namespace)


def item_key(namespace: tuple[str, ...], key: str) -> str:
    return f"{namespace_prefix(namespace)}{_ITEM}{quote(key, safe='')}"


def namespace_of(key: str) -> tuple[str, ...]:
    return tuple(unquote(label) for label in key.split(_ITEM, 1)[0].split("/")[:-1])


def _item(record: StateResult) -> Item:
    stored = record.value or {}
    return Item(
        value=json.loads(stored["json"]),
        key=stored["key"],
        namespace=tuple(stored["namespace"]),
        created_at=datetime.fromisoformat(stored["created_at"]),
        updated_at=datetime.fromisoformat(stored["updated_at"]),
    )


class StatehouseStore(BaseStore):
    """Items of every namespace in one Statehouse agent (``store`` in the namespace ``langgraph-store``).

    The puts and deletes of one ``batch`` are one transaction. ``search`` scans the namespace
    prefix (newest update first, ``filter`` as InMemoryStore applies it, ``offset``/``limit``);
    ``query`` (vector search) is not supported: a search with a query raises. No TTL.
    ``abatch`` runs ``batch`` in a worker thread.
    """

    supports_ttl = False

    def __init__(self, client: Statehouse, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.client = client
        self.namespace = namespace

    @classmethod
    @contextmanager
    def from_url(
        cls, url: str = "localhost:50051", *, namespace: str = DEFAULT_NAMESPACE, **client_options: Any
    ) -> Iterator[StatehouseStore]:
        with Statehouse(url=url, **client_options) as client:
            yield cls(client, namespace=namespace)

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        ops = list(ops)
        results: list[Result] = [None] * len(ops)
        puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
        for i, op in enumerate(ops):
            if isinstance(op, PutOp):
                puts[(op.namespace, op.key)] = op  # the last put of a key in a batch wins
            elif isinstance(op, GetOp):
                results[i] = self._get(op)
            elif isinstance(op, SearchOp):
                results[i] = self._search(op)
            elif isinstance(op, ListNamespacesOp):
                results[i] = self._list_namespaces(op)
            else:
                raise TypeError(f"unknown store operation {op!r}")
        if puts:
            self._put(list(puts.values()))
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await asyncio.to_thread(self.batch, list(ops))

    def _get(self, op: GetOp) -> Item | None:
        record = self.client.get_state(AGENT, item_key(op.namespace, op.key), self.namespace)
        return _item(record) if record.exists else None

    def _put(self, ops: list[PutOp]) -> None:
        now = datetime.now(UTC).isoformat()
        with self.client.begin_transaction(namespace=self.namespace) as tx:
            for op in ops:
                if op.index not in (None, False):
                    raise NotImplementedError("StatehouseStore has no vector index: put with index=False or None")
                key = item_key(op.namespace, op.key)
                if op.value is None:
                    tx.delete(AGENT, key)
                    continue
                before = tx.get(AGENT, key)  # keeps created_at; a concurrent change fails the commit
                created = (before.value or {}).get("created_at", now) if before.exists else now
                record = {"namespace": list(op.namespace), "key": op.key, "json": json.dumps(op.value)}
                tx.write(AGENT, key, {**record, "created_at": created, "updated_at": now})

    def _search(self, op: SearchOp) -> list[SearchItem]:
        if op.query is not None:
            raise NotImplementedError("StatehouseStore has no vector index: search without query=")
        scan = self.client.iter_scan_prefix(AGENT, namespace_prefix(op.namespace_prefix), self.namespace)
        conditions = (op.filter or {}).items()
        found = [item for item in map(_item, scan) if all(_compare_values(item.value.get(k), v) for k, v in conditions)]
        found.sort(key=lambda item: item.updated_at, reverse=True)
        return [
            SearchItem(item.namespace, item.key, item.value, item.created_at, item.updated_at)
            for item in found[op.offset : op.offset + op.limit]
        ]

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        namespaces: set[tuple[str, ...]] = set()
        for key in self.client.iter_keys(AGENT, self.namespace):
            namespace = namespace_of(key)
            if op.match_conditions and not all(_does_match(c, namespace) for c in op.match_conditions):
                continue
            namespaces.add(namespace[: op.max_depth] if op.max_depth is not None else namespace)
        return sorted(namespaces)[op.offset : op.offset + op.limit]
