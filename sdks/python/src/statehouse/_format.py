"""The pretty replay format, one line per operation.

``HH:MM:SSZ  agent=<id>  <OP>  key=<key>  v=<n>  <summary>``; verbose lines
replace the summary with ``txn=<id>  payload: <json>``. Every line is a single
line (control characters escaped) shorter than 300 characters.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._types import Operation, ReplayEvent

__all__ = ["MAX_LINE", "format_event_lines", "format_operation", "op_label"]

MAX_LINE = 299
_KEY_MAX = 48
_AGENT_MAX = 48
_TXN_MAX = 40
_SUMMARY_MAX = 120
_LABELS = (("tool/", "TOOL"), ("note/", "NOTE"), ("annotation/", "NOTE"), ("final/", "FINAL"), ("answer/", "FINAL"))


def op_label(op: Operation) -> str:
    """DEL for a delete; TOOL, NOTE or FINAL by key prefix; otherwise WRITE."""
    if op.value is None:
        return "DEL"
    return next((label for prefix, label in _LABELS if op.key.startswith(prefix)), "WRITE")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def format_operation(event: ReplayEvent, op: Operation, *, verbose: bool = False) -> str:
    at = event.committed_at.strftime("%H:%M:%SZ") if event.committed_at else "--:--:--Z"
    agent = _cut(_printable(event.agent_id), _AGENT_MAX)
    key = _cut(_printable(op.key), _KEY_MAX)
    line = f"{at}  agent={agent}  {op_label(op)}  key={key}  v={op.version}"
    if verbose:
        line += f"  txn={_cut(_printable(event.txn_id), _TXN_MAX)}  payload: "
        return line + _cut(_json(op.value), MAX_LINE - len(line))
    if op.value is None:
        return line
    return f"{line}  {_cut(_json(op.value), _SUMMARY_MAX)}"


def format_event_lines(event: ReplayEvent, *, verbose: bool = False) -> list[str]:
    return [format_operation(event, op, verbose=verbose) for op in event.operations]
