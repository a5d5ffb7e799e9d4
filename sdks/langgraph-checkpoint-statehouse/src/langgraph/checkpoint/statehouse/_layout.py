"""How checkpoints, blobs and pending writes are laid out as Statehouse records (no I/O here).

One thread is one Statehouse agent (``agent_id = thread_id``) in the saver's namespace:

- ``c/<ns>/<cid>`` — a checkpoint (without its channel values), its metadata and its parent id;
- ``c/<ns>/<cid>w/<task_id>/<idx>`` — a pending write of that checkpoint, so one prefix scan
  returns a checkpoint together with its writes;
- ``b/<ns>/<channel>/<version>`` — a channel value, written once per new version (the
  checkpoint refers to it through ``channel_versions``).

``<ns>``, ``<task_id>`` and ``<channel>`` are URL-encoded (no ``/`` left in them). ``<cid>`` is
the URL-encoded checkpoint id with every character mirrored in the printable ASCII range and
``{`` appended, so keys sort newest first: the first record under ``c/<ns>/`` is the latest
checkpoint of that namespace. The threads are indexed in ``<namespace>/threads`` (agent
``index``, one key per thread) for ``list(None)``; that key is written in the put's transaction.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.base import writes_sort_key as _writes_sort_key
from langgraph.checkpoint.serde.base import SerializerProtocol

from statehouse import StateResult

__all__ = [
    "INDEX_AGENT",
    "Grouped",
    "Grouper",
    "Op",
    "Selection",
    "batches",
    "blob_key",
    "build_tuple",
    "check_strategy",
    "checkpoint_key",
    "copy_operations",
    "delete_batches",
    "group",
    "index_namespace",
    "is_blob_key",
    "namespace_prefix",
    "next_version",
    "prune_operations",
    "put_operations",
    "run_operations",
    "stored_writes",
    "thread_key",
    "thread_of_key",
    "write_operations",
    "writes_prefix",
]

INDEX_AGENT = "index"
_MIRROR = str.maketrans({chr(c): chr(0x21 + 0x7E - c) for c in range(0x21, 0x7F)})
# Above every mirrored character of a URL-encoded string ('%' mirrors to 'z'), so an id sorts
# after every longer id it is a prefix of.
_END = "{"


@dataclass(frozen=True)
class Op:
    """One operation of a transaction: a write (``value``) or a delete (``value is None``)."""

    namespace: str
    agent_id: str
    key: str
    value: dict[str, Any] | None


def _enc(text: str) -> str:
    return quote(text, safe="")


def index_namespace(namespace: str) -> str:
    return f"{namespace}/threads"


def thread_key(thread_id: str) -> str:
    return _enc(thread_id)


def thread_of_key(key: str) -> str:
    return unquote(key)


def namespace_prefix(checkpoint_ns: str | None) -> str:
    """The prefix of every checkpoint of one namespace (``None``: of every namespace)."""
    return "c/" if checkpoint_ns is None else f"c/{_enc(checkpoint_ns)}/"


def checkpoint_key(checkpoint_ns: str, checkpoint_id: str) -> str:
    return f"c/{_enc(checkpoint_ns)}/{_enc(checkpoint_id).translate(_MIRROR)}{_END}"


def writes_prefix(checkpoint_ns: str, checkpoint_id: str, task_id: str) -> str:
    return f"{checkpoint_key(checkpoint_ns, checkpoint_id)}w/{_enc(task_id)}/"


def is_blob_key(key: str) -> bool:
    return key.startswith("b/")


def blob_key(checkpoint_ns: str, channel: str, version: str | int | float) -> str:
    return f"b/{_enc(checkpoint_ns)}/{_enc(channel)}/{_enc(str(version))}"


def _dump(serde: SerializerProtocol, value: Any) -> list[str]:
    kind, data = serde.dumps_typed(value)
    return [kind, base64.b64encode(data).decode("ascii")]


def _load(serde: SerializerProtocol, stored: Any) -> Any:
    kind, data = stored
    return serde.loads_typed((kind, base64.b64decode(data)))


def next_version(current: str | int | float | None) -> str:
    """A zero-padded, sortable string version (as the Postgres saver's), unique per put."""
    number = 0 if current is None else int(current) if isinstance(current, int | float) else int(current.split(".")[0])
    return f"{number + 1:032}.{random.random():016}"


def _thread(config: RunnableConfig) -> tuple[str, str]:
    configurable = config["configurable"]
    return str(configurable["thread_id"]), str(configurable.get("checkpoint_ns", ""))


def put_operations(
    serde: SerializerProtocol,
    namespace: str,
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    new_versions: ChannelVersions,
) -> tuple[list[Op], RunnableConfig]:
    """The operations of one put (one transaction) and the config the put returns."""
    thread_id, checkpoint_ns = _thread(config)
    stored: dict[str, Any] = dict(checkpoint)
    values: dict[str, Any] = stored.pop("channel_values", {})
    ops = [
        Op(
            namespace,
            thread_id,
            blob_key(checkpoint_ns, channel, version),
            {"v": _dump(serde, values[channel])} if channel in values else {"empty": True},
        )
        for channel, version in new_versions.items()
    ]
    record = {
        "kind": "checkpoint",
        "id": checkpoint["id"],
        "ns": checkpoint_ns,
        "parent": config["configurable"].get("checkpoint_id"),
        "checkpoint": _dump(serde, stored),
        "metadata": _dump(serde, get_checkpoint_metadata(config, metadata)),
    }
    ops.append(Op(namespace, thread_id, checkpoint_key(checkpoint_ns, checkpoint["id"]), record))
    ops.append(Op(index_namespace(namespace), INDEX_AGENT, thread_key(thread_id), {"thread_id": thread_id}))
    returned: RunnableConfig = {
        "configurable": {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns, "checkpoint_id": checkpoint["id"]}
    }
    return ops, returned


def write_index(channel: str, idx: int) -> int:
    return WRITES_IDX_MAP.get(channel, idx)


def write_operations(
    serde: SerializerProtocol,
    namespace: str,
    config: RunnableConfig,
    writes: Sequence[tuple[str, Any]],
    task_id: str,
    task_path: str,
    existing: Iterable[str],
) -> list[Op]:
    """The operations of one put_writes. A regular write already stored for (task, idx) is kept
    (a retried task does not replace what the first attempt saved); the special channels
    (error, interrupt, resume, scheduled) are replaced, as in LangGraph's own savers."""
    thread_id, checkpoint_ns = _thread(config)
    checkpoint_id = str(config["configurable"]["checkpoint_id"])
    prefix = writes_prefix(checkpoint_ns, checkpoint_id, task_id)
    have = set(existing)
    ops = []
    for position, (channel, value) in enumerate(writes):
        idx = write_index(channel, position)
        key = f"{prefix}{idx}"
        if idx >= 0 and key in have:
            continue
        record = {"kind": "write", "task": task_id, "channel": channel, "idx": idx, "path": task_path}
        ops.append(Op(namespace, thread_id, key, {**record, "v": _dump(serde, value)}))
    return ops


def stored_writes(config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str) -> tuple[str, str] | None:
    """(agent, key prefix) of the task's stored writes, which put_writes must read first, or None
    when it need not (only special channels, which are replaced)."""
    if all(write_index(channel, position) < 0 for position, (channel, _) in enumerate(writes)):
        return None
    thread_id, checkpoint_ns = _thread(config)
    return thread_id, writes_prefix(checkpoint_ns, str(config["configurable"]["checkpoint_id"]), task_id)


@dataclass
class Grouped:
    """A checkpoint record with the write records that follow it in key order."""

    record: dict[str, Any]
    writes: list[dict[str, Any]] = field(default_factory=list)

    def blob_keys(self, serde: SerializerProtocol) -> tuple[Checkpoint, dict[str, str]]:
        checkpoint: Checkpoint = _load(serde, self.record["checkpoint"])
        versions = checkpoint.get("channel_versions", {})
        return checkpoint, {ch: blob_key(self.record["ns"], ch, ver) for ch, ver in versions.items()}


def group(entries: Iterable[StateResult]) -> Iterable[Grouped]:
    """Checkpoints with their writes from a key-ordered scan (blobs and other records skipped)."""
    current: Grouped | None = None
    for entry in entries:
        value = entry.value or {}
        if value.get("kind") == "checkpoint":
            if current is not None:
                yield current
            current = Grouped(value)
        elif value.get("kind") == "write" and current is not None:
            current.writes.append(value)
    if current is not None:
        yield current


class Grouper:
    """``group`` fed one entry at a time (for async iteration): ``feed`` returns a finished group."""

    def __init__(self) -> None:
        self.current: Grouped | None = None

    def feed(self, entry: StateResult) -> Grouped | None:
        value = entry.value or {}
        if value.get("kind") == "checkpoint":
            done, self.current = self.current, Grouped(value)
            return done
        if value.get("kind") == "write" and self.current is not None:
            self.current.writes.append(value)
        return None

    def finish(self) -> Grouped | None:
        done, self.current = self.current, None
        return done


@dataclass(frozen=True)
class Selection:
    """What ``list`` keeps: the config's checkpoint id, ``before``, the metadata filter and ``limit``."""

    checkpoint_id: str | None
    before_id: str | None
    filter: Mapping[str, Any]
    limit: int | None

    @classmethod
    def of(
        cls,
        config: RunnableConfig | None,
        filter: Mapping[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Selection:
        return cls(
            get_checkpoint_id(config) if config else None,
            get_checkpoint_id(before) if before else None,
            filter or {},
            limit,
        )

    def keeps(self, serde: SerializerProtocol, found: Grouped) -> CheckpointMetadata | None:
        """The checkpoint's metadata when it is selected, else None."""
        checkpoint_id = found.record["id"]
        if self.checkpoint_id and checkpoint_id != self.checkpoint_id:
            return None
        if self.before_id and checkpoint_id >= self.before_id:
            return None
        metadata: CheckpointMetadata = _load(serde, found.record["metadata"])
        if any(metadata.get(key) != value for key, value in self.filter.items()):
            return None
        return metadata


def build_tuple(
    serde: SerializerProtocol,
    thread_id: str,
    found: Grouped,
    checkpoint: Checkpoint,
    blobs: Mapping[str, dict[str, Any] | None],
    metadata: CheckpointMetadata | None = None,
) -> CheckpointTuple:
    """The CheckpointTuple of a checkpoint record, its writes and its channels' blob records."""
    record = found.record
    checkpoint_ns = record["ns"]
    values = {}
    for channel, stored in blobs.items():
        if stored and "v" in stored:
            values[channel] = _load(serde, stored["v"])
    writes = sorted(found.writes, key=lambda w: _writes_sort_key(w["path"], w["task"], int(w["idx"])))
    parent = record.get("parent")
    return CheckpointTuple(
        config={
            "configurable": {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns, "checkpoint_id": record["id"]}
        },
        checkpoint={**checkpoint, "channel_values": values},
        metadata=metadata if metadata is not None else _load(serde, record["metadata"]),
        parent_config=(
            {"configurable": {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns, "checkpoint_id": parent}}
            if parent
            else None
        ),
        pending_writes=[(w["task"], w["channel"], _load(serde, w["v"])) for w in writes],
    )


# Operations per transaction when deleting a thread (the daemon's default limit is 10 000).
DELETE_BATCH = 5_000


def delete_batches(namespace: str, thread_id: str, keys: Sequence[str]) -> list[list[Op]]:
    """Deletes of every record of a thread, then of its index entry, in transactions of at most
    DELETE_BATCH operations (one for most threads). Interrupted, it leaves the thread listed and
    a second delete_thread finishes it."""
    ops = [Op(namespace, thread_id, key, None) for key in keys]
    ops.append(Op(index_namespace(namespace), INDEX_AGENT, thread_key(thread_id), None))
    return batches(ops)


def batches(ops: Sequence[Op]) -> list[list[Op]]:
    """Transactions of at most DELETE_BATCH operations (one for most threads)."""
    return [list(ops[start : start + DELETE_BATCH]) for start in range(0, len(ops), DELETE_BATCH)]


def copy_operations(namespace: str, target_thread_id: str, records: Iterable[StateResult]) -> list[Op]:
    """Every record of a thread (checkpoints, writes, channel values) under another thread, then
    its index entry: records name no thread, so they are copied as they are."""
    ops = [
        Op(namespace, target_thread_id, r.key, r.value) for r in records if r.key is not None and r.value is not None
    ]
    if ops:
        ops.append(
            Op(index_namespace(namespace), INDEX_AGENT, thread_key(target_thread_id), {"thread_id": target_thread_id})
        )
    return ops


PRUNE_STRATEGIES = ("keep_latest", "delete")


def check_strategy(strategy: str) -> None:
    if strategy not in PRUNE_STRATEGIES:
        raise ValueError(f"unknown prune strategy {strategy!r} (use one of {', '.join(PRUNE_STRATEGIES)})")


def prune_operations(
    serde: SerializerProtocol, namespace: str, thread_id: str, records: Sequence[StateResult]
) -> list[Op]:
    """keep_latest: deletes of every checkpoint but the newest of each checkpoint namespace, of their
    writes, and of the channel values the kept checkpoints do not refer to."""
    keep: set[str] = set()
    kept_namespaces: set[str] = set()
    for found in group(records):
        if found.record["ns"] in kept_namespaces:
            continue
        kept_namespaces.add(found.record["ns"])
        keep.add(checkpoint_key(found.record["ns"], found.record["id"]))
        keep.update(found.blob_keys(serde)[1].values())
    return [
        Op(namespace, thread_id, r.key, None)
        for r in records
        if r.key is not None and r.key not in keep and not any(r.key.startswith(k) for k in keep if k.startswith("c/"))
    ]


def run_operations(
    serde: SerializerProtocol, namespace: str, thread_id: str, records: Sequence[StateResult], run_ids: set[str]
) -> list[Op]:
    """Deletes of the checkpoints whose metadata ``run_id`` is one of ``run_ids``, with their writes."""
    doomed = [
        checkpoint_key(found.record["ns"], found.record["id"])
        for found in group(records)
        if str(_load(serde, found.record["metadata"]).get("run_id")) in run_ids
    ]
    return [
        Op(namespace, thread_id, r.key, None)
        for r in records
        if r.key is not None and any(r.key.startswith(prefix) for prefix in doomed)
    ]
