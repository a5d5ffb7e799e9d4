"""``StatehouseSaver``: the LangGraph checkpointer on the blocking Statehouse client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from statehouse import Statehouse

from . import _layout as layout
from ._blob_cache import DEFAULT_BLOB_CACHE_BYTES, BlobCache

__all__ = ["StatehouseSaver"]

DEFAULT_NAMESPACE = "langgraph"
# Records per ScanPrefix page while looking for the latest checkpoint: it and its writes come first.
LATEST_PAGE = 4


class StatehouseSaver(BaseCheckpointSaver[str]):
    """A LangGraph checkpoint saver that keeps every thread as a Statehouse agent.

    Every ``put`` and every ``put_writes`` is one Statehouse transaction, so a checkpoint is
    never seen without its channel values, and a thread's history can be replayed
    (``statehousectl replay <thread_id> --namespace langgraph``). The async methods run the
    blocking calls in a worker thread; use ``AsyncStatehouseSaver`` in asyncio programs.
    """

    def __init__(
        self,
        client: Statehouse,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        serde: SerializerProtocol | None = None,
        blob_cache_bytes: int = DEFAULT_BLOB_CACHE_BYTES,
    ) -> None:
        super().__init__(serde=serde)
        self.client = client
        self.namespace = namespace
        self.blobs = BlobCache(blob_cache_bytes)

    @classmethod
    @contextmanager
    def from_url(
        cls, url: str = "localhost:50051", *, namespace: str = DEFAULT_NAMESPACE, **client_options: Any
    ) -> Iterator[StatehouseSaver]:
        """A saver on its own client, closed when the block ends."""
        with Statehouse(url=url, **client_options) as client:
            yield cls(client, namespace=namespace)

    def _commit(self, ops: Sequence[layout.Op]) -> None:
        with self.client.begin_transaction(namespace=self.namespace) as tx:
            for op in ops:
                if op.value is None:
                    tx.delete(op.agent_id, op.key, namespace=op.namespace)
                else:
                    tx.write(op.agent_id, op.key, op.value, namespace=op.namespace)
        for op in ops:
            if op.value is not None and layout.is_blob_key(op.key):
                self.blobs.put((op.namespace, op.agent_id, op.key), op.value)

    def _tuple(
        self, thread_id: str, found: layout.Grouped, metadata: CheckpointMetadata | None = None
    ) -> CheckpointTuple:
        checkpoint, keys = found.blob_keys(self.serde)
        blobs = {ch: self._blob(thread_id, key) for ch, key in keys.items()}
        return layout.build_tuple(self.serde, thread_id, found, checkpoint, blobs, metadata)

    def _blob(self, thread_id: str, key: str) -> dict[str, Any] | None:
        cache_key = (self.namespace, thread_id, key)
        if (cached := self.blobs.get(cache_key)) is not None:
            return cached
        record = self.client.get_state(thread_id, key, self.namespace)
        if record.exists and record.value is not None:
            self.blobs.put(cache_key, record.value)
        return record.value

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        thread_id = str(config["configurable"]["thread_id"])
        checkpoint_ns = str(config["configurable"].get("checkpoint_ns", ""))
        if checkpoint_id := get_checkpoint_id(config):
            entries = self.client.scan_prefix(
                thread_id, layout.checkpoint_key(checkpoint_ns, checkpoint_id), self.namespace
            )
            found = next(iter(layout.group(entries)), None)
        else:
            scan = self.client.iter_scan_prefix(
                thread_id, layout.namespace_prefix(checkpoint_ns), self.namespace, page_size=LATEST_PAGE
            )
            found = next(iter(layout.group(scan)), None)
        return None if found is None else self._tuple(thread_id, found)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        selection = layout.Selection.of(config, filter, before, limit)
        checkpoint_ns = config["configurable"].get("checkpoint_ns") if config else None
        if config:
            threads: Iterator[str] = iter([str(config["configurable"]["thread_id"])])
        else:
            keys = self.client.iter_keys(layout.INDEX_AGENT, layout.index_namespace(self.namespace))
            threads = (layout.thread_of_key(key) for key in keys)
        tuples = (
            self._tuple(thread_id, found, metadata)
            for thread_id in threads
            for found in layout.group(
                self.client.iter_scan_prefix(thread_id, layout.namespace_prefix(checkpoint_ns), self.namespace)
            )
            if (metadata := selection.keeps(self.serde, found)) is not None
        )
        yield from tuples if limit is None else islice(tuples, max(limit, 0))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        ops, returned = layout.put_operations(self.serde, self.namespace, config, checkpoint, metadata, new_versions)
        self._commit(ops)
        return returned

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        existing: list[str] = []
        if (stored := layout.stored_writes(config, writes, task_id)) is not None:
            existing = self.client.list_keys(stored[0], self.namespace, prefix=stored[1])
        ops = layout.write_operations(self.serde, self.namespace, config, writes, task_id, task_path, existing)
        if ops:
            self._commit(ops)

    def delete_thread(self, thread_id: str) -> None:
        keys = self.client.list_keys(thread_id, self.namespace)
        for ops in layout.delete_batches(self.namespace, thread_id, keys):
            self._commit(ops)
        self.blobs.drop_thread(self.namespace, thread_id)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        records = self.client.scan_prefix(source_thread_id, "", self.namespace)
        for ops in layout.batches(layout.copy_operations(self.namespace, target_thread_id, records)):
            self._commit(ops)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        layout.check_strategy(strategy)
        for thread_id in thread_ids:
            if strategy == "delete":
                self.delete_thread(thread_id)
                continue
            records = self.client.scan_prefix(thread_id, "", self.namespace)
            for ops in layout.batches(layout.prune_operations(self.serde, self.namespace, thread_id, records)):
                self._commit(ops)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        wanted = {str(run_id) for run_id in run_ids}
        if not wanted:
            return
        for key in self.client.list_keys(layout.INDEX_AGENT, layout.index_namespace(self.namespace)):
            thread_id = layout.thread_of_key(key)
            records = self.client.scan_prefix(thread_id, layout.namespace_prefix(None), self.namespace)
            ops = layout.run_operations(self.serde, self.namespace, thread_id, records, wanted)
            for batch in layout.batches(ops):
                self._commit(batch)

    def get_next_version(self, current: str | None, channel: None = None) -> str:
        return layout.next_version(current)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await asyncio.to_thread(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        found = await asyncio.to_thread(lambda: list(self.list(config, filter=filter, before=before, limit=limit)))
        for item in found:
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await asyncio.to_thread(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await asyncio.to_thread(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await asyncio.to_thread(self.delete_thread, thread_id)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await asyncio.to_thread(self.copy_thread, source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await asyncio.to_thread(self.prune, thread_ids, strategy=strategy)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await asyncio.to_thread(self.delete_for_runs, run_ids)
