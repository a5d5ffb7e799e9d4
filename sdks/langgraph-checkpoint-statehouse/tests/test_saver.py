"""What the conformance suite does not check: one transaction per put/put_writes, the layout's
ordering, the two savers reading each other's threads, and misuse of the async saver's sync API."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import Checkpoint, empty_checkpoint
from langgraph.checkpoint.base.id import uuid6
from statehouse import AsyncStatehouse, Statehouse, TransactionError

from langgraph.checkpoint.statehouse import AsyncStatehouseSaver, StatehouseSaver
from langgraph.checkpoint.statehouse._layout import checkpoint_key

ROOT: RunnableConfig = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}


def make(values: dict[str, Any], versions: dict[str, str | int | float]) -> Checkpoint:
    return {**empty_checkpoint(), "channel_values": values, "channel_versions": versions}


def test_a_put_and_a_put_writes_are_one_transaction_each(client: Statehouse) -> None:
    namespace = f"txn-{uuid.uuid4().hex[:8]}"
    saver = StatehouseSaver(client, namespace=namespace)
    thread = "thread-1"
    config: RunnableConfig = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    stored = saver.put(config, make({"a": 1, "b": [2]}, {"a": "1", "b": "1"}), {"step": 0}, {"a": "1", "b": "1"})
    saver.put_writes(stored, [("a", 5), ("b", [6]), ("__interrupt__", {"why": "ok"})], task_id="task-1")
    events = list(client.replay(thread, namespace=namespace))
    assert [sorted(op.key.split("/")[0] for op in e.operations) for e in events] == [["b", "b", "c"], ["c", "c", "c"]]
    index = list(client.replay("index", namespace=f"{namespace}/threads"))
    assert [e.commit_ts for e in index] == [events[0].commit_ts]  # the index entry is in the put's transaction
    tup = saver.get_tuple(config)
    assert tup is not None
    assert tup.checkpoint["channel_values"] == {"a": 1, "b": [2]}
    assert [(w[1], w[2]) for w in tup.pending_writes or []] == [("__interrupt__", {"why": "ok"}), ("a", 5), ("b", [6])]


@pytest.mark.parametrize("ids", [["a", "ab", "b", "b%", "ba~"], [str(uuid6()) for _ in range(20)]])
def test_checkpoint_keys_sort_newest_first(ids: list[str]) -> None:
    keys = [checkpoint_key("ns", i) for i in sorted(ids)]
    assert sorted(keys) == list(reversed(keys))
    writes = [k + "w/task/0" for k in keys]
    assert all(w > k for w, k in zip(writes, keys, strict=True))


async def test_the_savers_read_each_others_threads(client: Statehouse, aclient: AsyncStatehouse) -> None:
    namespace = f"both-{uuid.uuid4().hex[:8]}"
    sync = StatehouseSaver(client, namespace=namespace)
    asynchronous = AsyncStatehouseSaver(aclient, namespace=namespace)
    stored = await asyncio.to_thread(sync.put, ROOT, make({"x": "one"}, {"x": "1"}), {"step": 1}, {"x": "1"})
    await asynchronous.aput(stored, make({"x": "two"}, {"x": "2"}), {"step": 2}, {"x": "2"})
    latest = await asyncio.to_thread(sync.get_tuple, ROOT)
    assert latest is not None and latest.checkpoint["channel_values"] == {"x": "two"}
    assert latest.parent_config == stored
    assert [t.metadata["step"] async for t in asynchronous.alist(None)] == [2, 1]
    # The async saver's blocking API works from another thread, not from its own loop.
    assert (await asyncio.to_thread(asynchronous.get_tuple, stored)) is not None
    with pytest.raises(asyncio.InvalidStateError, match="other threads"):
        asynchronous.get_tuple(stored)


def test_a_value_over_the_limit_stores_nothing(client: Statehouse) -> None:
    namespace = f"big-{uuid.uuid4().hex[:8]}"
    saver = StatehouseSaver(client, namespace=namespace)
    with pytest.raises(TransactionError, match="max_value_bytes"):
        saver.put(ROOT, make({"big": "x" * 2_000_000}, {"big": "1"}), {}, {"big": "1"})
    assert client.list_keys("t", namespace) == []
    assert saver.get_tuple(ROOT) is None


def test_prune_keeps_the_latest_checkpoint_whole_and_copy_keeps_history(client: Statehouse) -> None:
    saver = StatehouseSaver(client, namespace=f"prune-{uuid.uuid4().hex[:8]}", blob_cache_bytes=0)
    stored = saver.put(ROOT, make({"a": "a1", "b": "b1"}, {"a": "1", "b": "1"}), {"step": 0}, {"a": "1", "b": "1"})
    stored = saver.put(stored, make({"a": "a2", "b": "b1"}, {"a": "2", "b": "1"}), {"step": 1}, {"a": "2"})
    saver.put_writes(stored, [("a", "pending")], task_id="task")
    saver.copy_thread("t", "copy")
    saver.prune(["t"])
    latest = saver.get_tuple(ROOT)
    assert latest is not None and latest.checkpoint["channel_values"] == {"a": "a2", "b": "b1"}
    assert [w[2] for w in latest.pending_writes or []] == ["pending"]
    assert [t.metadata["step"] for t in saver.list(ROOT)] == [1]
    assert not any(k.endswith("/1") and "/a/" in k for k in client.list_keys("t", saver.namespace))  # a@1 is gone
    copied: RunnableConfig = {"configurable": {"thread_id": "copy", "checkpoint_ns": ""}}
    assert [t.metadata["step"] for t in saver.list(copied)] == [1, 0]
    with pytest.raises(ValueError, match="keep_latest"):
        saver.prune(["t"], strategy="sometimes")
