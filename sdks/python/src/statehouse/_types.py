"""The SDK's result types: plain dataclasses, no protobuf."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ._format import format_event_lines
from ._values import JsonObject

__all__ = ["Operation", "ReplayEvent", "StateResult"]


@dataclass
class StateResult:
    """One record's state.

    A key that was never written reads as ``exists=False, version=0``; a deleted
    key as ``exists=False`` with the tombstone's version. ``key`` is filled in by
    the SDK (it is not part of the original four fields).
    """

    value: JsonObject | None
    version: int
    commit_ts: int
    exists: bool
    key: str | None = None


@dataclass
class Operation:
    """One operation of a committed transaction; ``value is None`` means the key was deleted."""

    key: str
    value: JsonObject | None
    version: int

    @property
    def is_delete(self) -> bool:
        return self.value is None


@dataclass(repr=False)
class ReplayEvent:
    """One committed transaction, restricted to one ``(namespace, agent_id)``.

    ``repr()`` is the pretty one-line-per-operation form (see ``replay_pretty``).
    ``committed_at`` is the wall-clock commit time (UTC) when the daemon reports it.
    """

    txn_id: str
    commit_ts: int
    operations: list[Operation]
    namespace: str = "default"
    agent_id: str = ""
    committed_at: datetime | None = field(default=None)

    def __repr__(self) -> str:
        lines = format_event_lines(self)
        return "\n".join(lines) if lines else f"<ReplayEvent txn_id={self.txn_id}>"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the event: the original's fields, then ``committed_at`` (ISO 8601 or ``None``)."""
        return {
            "txn_id": self.txn_id,
            "commit_ts": self.commit_ts,
            "namespace": self.namespace,
            "agent_id": self.agent_id,
            "operations": [{"key": op.key, "value": op.value, "version": op.version} for op in self.operations],
            "committed_at": self.committed_at.isoformat().replace("+00:00", "Z") if self.committed_at else None,
        }
