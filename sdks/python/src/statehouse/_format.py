"""Replay events in the original SDK's pretty and verbose forms (see ``statehouse.formatting``).

The time shown is the event's ``committed_at`` (wall clock, UTC), or ``--:--:--Z``
when the daemon did not report it; the logical ``commit_ts`` is never shown as a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .formatting import format_event_pretty, format_event_verbose

if TYPE_CHECKING:
    from ._types import Operation, ReplayEvent

__all__ = ["format_event_lines", "format_operation"]


def format_operation(event: ReplayEvent, op: Operation, index: int, *, verbose: bool = False) -> str:
    """Operation ``index`` of ``event``: one pretty line, or a verbose header plus payload line."""
    operation = "write" if op.value is not None else "delete"
    if verbose:
        return format_event_verbose(
            event.committed_at,
            event.agent_id,
            operation,
            op.key,
            op.version,
            event.txn_id,
            index,
            op.value,
            event.namespace,
        )
    at = event.committed_at
    return format_event_pretty(at, event.agent_id, operation, op.key, op.version, op.value, event.namespace)


def format_event_lines(event: ReplayEvent, *, verbose: bool = False) -> list[str]:
    """One entry per operation (a verbose entry spans two lines unless it is a delete)."""
    return [format_operation(event, op, i, verbose=verbose) for i, op in enumerate(event.operations)]
