"""StatehouseStore on the real daemon, checked against LangGraph's own InMemoryStore as the oracle."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from statehouse import Statehouse

from langgraph.store.statehouse import StatehouseStore

DOCS: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [
    (("users", "alice"), "prefs", {"theme": "dark", "size": 3}),
    (("users", "alice", "notes"), "n1", {"text": "milk", "size": 1}),
    (("users", "alicia"), "prefs", {"theme": "light", "size": 5}),
    (("users", "bob"), "prefs", {"theme": "dark", "size": 8, "tags": {"a": 1}}),
    (("teams", "x/y"), "k/1", {"theme": "dark", "size": 2}),
]


def fill(store: BaseStore) -> None:
    for namespace, key, value in DOCS:
        store.put(namespace, key, value, index=False)
    store.put(("users", "bob"), "prefs", {"theme": "dark", "size": 9, "tags": {"a": 1}}, index=False)
    store.delete(("teams", "x/y"), "k/1")
    store.put(("teams", "x/y"), "k/2", {"theme": "light", "size": 2}, index=False)


def view(store: BaseStore) -> dict[str, Any]:
    def items(found: list[Any]) -> list[tuple[tuple[str, ...], str, dict[str, Any]]]:
        return sorted((i.namespace, i.key, i.value) for i in found)

    alice = store.get(("users", "alice"), "prefs")
    return {
        "get": alice and (alice.namespace, alice.key, alice.value),
        "missing": store.get(("users", "alice"), "nope"),
        "deleted": store.get(("teams", "x/y"), "k/1"),
        "prefix": items(store.search(("users", "alice"))),
        "all": items(store.search(())),
        "filter": items(store.search(("users",), filter={"theme": "dark"})),
        "operators": items(store.search((), filter={"size": {"$gte": 3, "$lt": 9}})),
        "nested": items(store.search((), filter={"tags": {"a": 1}})),
        "limit": len(store.search(("users",), limit=2)),
        "offset": len(store.search(("users",), offset=3)),
        "namespaces": store.list_namespaces(),
        "ns_prefix": store.list_namespaces(prefix=("users",)),
        "ns_suffix": store.list_namespaces(suffix=("notes",)),
        "ns_depth": store.list_namespaces(max_depth=1),
    }


def test_store_answers_as_the_in_memory_store(client: Statehouse) -> None:
    store = StatehouseStore(client, namespace=f"store-{uuid.uuid4().hex[:8]}")
    oracle = InMemoryStore()
    fill(store)
    fill(oracle)
    got, want = view(store), view(oracle)
    assert got == want
    assert got["prefix"] == [
        (("users", "alice"), "prefs", {"theme": "dark", "size": 3}),
        (("users", "alice", "notes"), "n1", {"text": "milk", "size": 1}),
    ]


def test_created_at_survives_an_update_and_search_is_newest_first(client: Statehouse) -> None:
    store = StatehouseStore(client, namespace=f"store-{uuid.uuid4().hex[:8]}")
    store.put(("a",), "one", {"v": 1})
    store.put(("a",), "two", {"v": 2})
    first = store.get(("a",), "one")
    store.put(("a",), "one", {"v": 3})
    again = store.get(("a",), "one")
    assert first is not None and again is not None
    assert again.created_at == first.created_at and again.updated_at > first.updated_at
    assert [i.key for i in store.search(("a",))] == ["one", "two"]


async def test_abatch_and_vector_search_refused(client: Statehouse) -> None:
    store = StatehouseStore(client, namespace=f"store-{uuid.uuid4().hex[:8]}")
    await store.aput(("a",), "k", {"v": 1})
    item = await store.aget(("a",), "k")
    assert item is not None and item.value == {"v": 1}
    with pytest.raises(NotImplementedError, match="vector index"):
        await store.asearch(("a",), query="anything")
