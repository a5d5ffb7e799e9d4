"""``AsyncStatehouseSaver``: the LangGraph checkpointer on the asyncio Statehouse client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

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

from statehouse import AsyncStatehouse

from . import _layout as layout
from ._blob_cache import DEFAULT_BLOB_CACHE_BYTES, BlobCache
from ._sync import DEFAULT_NAMESPACE, LATEST_PAGE

__all__ = ["AsyncStatehouseSaver"]

T = TypeVar("T")


class AsyncStatehouseSaver(BaseCheckpointSaver[str]):
    """The asyncio twin of ``StatehouseSaver`` (same records, so either reads the other's threads).

    A checkpoint's channel values are fetched concurrently. The blocking methods (``get_tuple``,
    ``list``, ``put``, ...) may be called from other threads while the saver's event loop runs,
    as LangGraph does for sync graph calls; from the loop's own thread they raise.
    """

    def __init__(
        self,
        client: AsyncStatehouse,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        serde: SerializerProtocol | None = None,
        blob_cache_bytes: int = DEFAULT_BLOB_CACHE_BYTES,
    ) -> None:
        super().__init__(serde=serde)
        self.client = client
        self.namespace = namespace
        self.blobs = BlobCache(blob_cache_bytes)
        self.loop = asyncio.get_running_loop()

    @classmethod
    @asynccontextmanager
    async def from_url(
        cls, url: str = "localhost:50051", *, namespace: str = DEFAULT_NAMESPACE, **client_options: Any
    ) -> AsyncIterator[AsyncStatehouseSaver]:
        """A saver on its own client, closed when the block ends."""
        async with AsyncStatehouse(url=url, **client_options) as client:
            yield cls(client, namespace=namespace)

    async def _commit(self, ops: Sequence[layout.Op]) -> None:
        async with self.client.begin_transaction(namespace=self.namespace) as tx:
            for op in ops:
                if op.value is None:
                    tx.delete(op.agent_id, op.key, namespace=op.namespace)
                else:
                    tx.write(op.agent_id, op.key, op.value, namespace=op.namespace)
        for op in ops:
            if op.value is not None and layout.is_blob_key(op.key):
                self.blobs.put((op.namespace, op.agent_id, op.key), op.value)

    async def _tuple(
        self, thread_id: str, found: layout.Grouped, metadata: CheckpointMetadata | None = None
    ) -> CheckpointTuple:
        checkpoint, keys = found.blob_keys(self.serde)
        blobs = dict(
            zip(keys, await asyncio.gather(*(self._blob(thread_id, key) for key in keys.values())), strict=True)
        )
        return layout.build_tuple(self.serde, thread_id, found, checkpoint, blobs, metadata)

    async def _blob(self, thread_id: str, key: str) -> dict[str, Any] | None:
        cache_key = (self.namespace, thread_id, key)
        if (cached := self.blobs.get(cache_key)) is not None:
            return cached
        record = await self.client.get_state(thread_id, key, self.namespace)
        if record.exists and record.value is not None:
            self.blobs.put(cache_key, record.value)
        return record.value

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        thread_id = str(config["configurable"]["thread_id"])
        checkpoint_ns = str(config["configurable"].get("checkpoint_ns", ""))
        grouper = layout.Grouper()
        found: layout.Grouped | None = None
        if checkpoint_id := get_checkpoint_id(config):
            prefix = layout.checkpoint_key(checkpoint_ns, checkpoint_id)
            entries = await self.client.scan_prefix(thread_id, prefix, self.namespace)
            for entry in entries:
                grouper.feed(entry)
            found = grouper.finish()
        else:
            prefix = layout.namespace_prefix(checkpoint_ns)
            async for entry in self.client.iter_scan_prefix(thread_id, prefix, self.namespace, page_size=LATEST_PAGE):
                if (found := grouper.feed(entry)) is not None:
                    break
            found = found or grouper.finish()
        return None if found is None else await self._tuple(thread_id, found)

    async def _threads(self, config: RunnableConfig | None) -> AsyncIterator[str]:
        if config:
            yield str(config["configurable"]["thread_id"])
            return
        async for key in self.client.iter_keys(layout.INDEX_AGENT, layout.index_namespace(self.namespace)):
            yield layout.thread_of_key(key)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        selection = layout.Selection.of(config, filter, before, limit)
        prefix = layout.namespace_prefix(config["configurable"].get("checkpoint_ns") if config else None)
        remaining = limit
        async for thread_id in self._threads(config):
            grouper = layout.Grouper()
            scan = self.client.iter_scan_prefix(thread_id, prefix, self.namespace)
            done = False
            while not done:
                entry = await anext(scan, None)
                found = grouper.feed(entry) if entry is not None else grouper.finish()
                done = entry is None
                if found is None or (metadata := selection.keeps(self.serde, found)) is None:
                    continue
                if remaining is not None and remaining <= 0:
                    return
                if remaining is not None:
                    remaining -= 1
                yield await self._tuple(thread_id, found, metadata)

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        ops, returned = layout.put_operations(self.serde, self.namespace, config, checkpoint, metadata, new_versions)
        await self._commit(ops)
        return returned

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        existing: list[str] = []
        if (stored := layout.stored_writes(config, writes, task_id)) is not None:
            existing = await self.client.list_keys(stored[0], self.namespace, prefix=stored[1])
        ops = layout.write_operations(self.serde, self.namespace, config, writes, task_id, task_path, existing)
        if ops:
            await self._commit(ops)

    async def adelete_thread(self, thread_id: str) -> None:
        keys = await self.client.list_keys(thread_id, self.namespace)
        for ops in layout.delete_batches(self.namespace, thread_id, keys):
            await self._commit(ops)
        self.blobs.drop_thread(self.namespace, thread_id)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        records = await self.client.scan_prefix(source_thread_id, "", self.namespace)
        for ops in layout.batches(layout.copy_operations(self.namespace, target_thread_id, records)):
            await self._commit(ops)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        layout.check_strategy(strategy)
        for thread_id in thread_ids:
            if strategy == "delete":
                await self.adelete_thread(thread_id)
                continue
            records = await self.client.scan_prefix(thread_id, "", self.namespace)
            for ops in layout.batches(layout.prune_operations(self.serde, self.namespace, thread_id, records)):
                await self._commit(ops)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        wanted = {str(run_id) for run_id in run_ids}
        if not wanted:
            return
        for key in await self.client.list_keys(layout.INDEX_AGENT, layout.index_namespace(self.namespace)):
            thread_id = layout.thread_of_key(key)
            records = await self.client.scan_prefix(thread_id, layout.namespace_prefix(None), self.namespace)
            ops = layout.run_operations(self.serde, self.namespace, thread_id, records, wanted)
            for batch in layout.batches(ops):
                await self._commit(batch)

    def get_next_version(self, current: str | None, channel: None = None) -> str:
        return layout.next_version(current)

    def _blocking(self, work: Coroutine[Any, Any, T]) -> T:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            work.close()
            raise asyncio.InvalidStateError(
                "the blocking methods of AsyncStatehouseSaver are for other threads; "
                "in its event loop use the async ones (ainvoke, aget_tuple, ...)"
            )
        return asyncio.run_coroutine_threadsafe(work, self.loop).result()

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._blocking(self.aget_tuple(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        async def collect() -> list[CheckpointTuple]:
            return [t async for t in self.alist(config, filter=filter, before=before, limit=limit)]

        yield from self._blocking(collect())

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self._blocking(self.aput(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._blocking(self.aput_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._blocking(self.adelete_thread(thread_id))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._blocking(self.acopy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._blocking(self.aprune(thread_ids, strategy=strategy))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._blocking(self.adelete_for_runs(run_ids))
