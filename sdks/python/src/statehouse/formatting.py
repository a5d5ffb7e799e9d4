"""The original SDK's output formatting: pretty and verbose replay lines, value summaries.

Pretty line (one per operation)::

    HH:MM:SSZ  agent=<id>  <OP>  key=<key>  v=<n>  <summary>

``OP`` is padded to 5 characters and ``key=`` to 20; ``ns=<namespace>`` follows the
time when the namespace is not ``default``. Agents are cut at 20 characters, keys
at 48 (path-like keys keep their first and last part: ``first/.../last``), string
summaries at 120; objects whose compact JSON is longer than that are summarized as
``{f0:..., f1:..., n_fields=N}`` and lists as ``[a, b, ...] len=N``.

Verbose (the header, then the complete payload on a second line; no payload for a delete)::

    HH:MM:SSZ  agent=<id>  <OP>  key=<key>  v=<n>  txn=<first 12 chars>  event=<index in the transaction>
      payload: <compact JSON>

The functions are pure and deterministic. Unlike the original they escape every
control character (not only newline, carriage return and tab) and cut field names,
namespaces and transaction ids, so a pretty line is always one line shorter than 300
characters whatever the data. The time is a wall-clock time: the SDK passes the
event's ``committed_at`` (a ``datetime``), never the logical ``commit_ts``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "format_event_json",
    "format_event_pretty",
    "format_event_verbose",
    "format_key",
    "format_ts",
    "format_value_summary",
]

_AGENT_MAX = 20
_NAME_MAX = 20  # namespaces and field names in summaries (the original left them uncut)
_TXN_SHORT = 12
_UNKNOWN_TIME = "--:--:--Z"
_LABELS = (("tool/", "TOOL"), ("note/", "NOTE"), ("annotation/", "NOTE"), ("final/", "FINAL"), ("answer/", "FINAL"))
_OPS = {"write": "WRITE", "delete": "DEL"}


def format_ts(ts: int | float | datetime | None) -> str:
    """``HH:MM:SSZ`` (UTC) of a Unix time in seconds or of a ``datetime``; ``--:--:--Z`` for ``None``.

    A naive ``datetime`` is taken as UTC.
    """
    if ts is None:
        return _UNKNOWN_TIME
    if isinstance(ts, datetime):
        moment = ts if ts.tzinfo is None else ts.astimezone(UTC)
    else:
        moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%H:%M:%SZ")


def _printable(text: str) -> str:
    """Escapes newlines, tabs and every other non-printable character (``\\n``, ``\\x1b``...)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def format_key(key: str, max_len: int = 48) -> str:
    """The key as shown in a line: unchanged up to ``max_len`` characters, else shortened.

    A longer path-like key with at least three parts keeps its first and last part
    (``first/.../last``) when they fit; any other key is cut to ``max_len`` with ``...``.
    """
    key = _printable(key)
    if len(key) <= max_len:
        return key
    parts = key.split("/")
    if len(parts) > 2 and len(parts[0]) + len(parts[-1]) + 5 < max_len:
        return f"{parts[0]}/.../{parts[-1]}"
    return key[: max_len - 3] + "..."


def _compact(value: Any) -> str | None:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return None


def format_value_summary(value: Any, max_len: int = 120) -> str:
    """A one-line summary of a JSON value.

    ``null``/``true``/``false`` and numbers as they are; a string quoted, escaped and cut
    at ``max_len``; a list or object as compact JSON when that fits in ``max_len``, else
    ``[a, b, ...] len=N`` (the first two items summarized in 30 characters) or
    ``{f0:..., f1:..., n_fields=N}`` (the first two field names).
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        escaped = _printable(value)
        return f'"{escaped}"' if len(escaped) <= max_len else f'"{escaped[: max_len - 6]}..."'
    if isinstance(value, list):
        if not value:
            return "[]"
        compact = _compact(value)
        if compact is not None and len(compact) <= max_len:
            return _printable(compact)
        preview = ", ".join(format_value_summary(item, max_len=30) for item in value[:2])
        return f"[{preview}]" if len(value) <= 2 else f"[{preview}, ...] len={len(value)}"
    if isinstance(value, dict):
        if not value:
            return "{}"
        compact = _compact(value)
        if compact is not None and len(compact) <= max_len:
            return _printable(compact)
        fields = ", ".join(f"{_cut(_printable(str(name)), _NAME_MAX)}:..." for name in list(value)[:2])
        return f"{{{fields}}}" if len(value) <= 2 else f"{{{fields}, n_fields={len(value)}}}"
    return _cut(_printable(str(value)), max_len)


def _label(operation: str, key: str) -> str:
    for prefix, label in _LABELS:
        if key.startswith(prefix):
            return label
    return _OPS.get(operation, operation.upper())


def _agent(agent_id: str) -> str:
    agent = _printable(agent_id)
    return agent if len(agent) <= _AGENT_MAX else agent[: _AGENT_MAX - 3] + "..."


def _with_namespace(ts: str, line: str, namespace: str) -> str:
    if namespace == "default":
        return line
    return f"{ts}  ns={_cut(_printable(namespace), _NAME_MAX)}  {line[len(ts) + 2 :]}"


def format_event_pretty(
    timestamp: int | float | datetime | None,
    agent_id: str,
    operation: str,
    key: str,
    version: int,
    value: Any | None = None,
    namespace: str = "default",
) -> str:
    """One operation as a pretty line.

    ``operation`` is ``"write"`` or ``"delete"``; a key prefix (``tool/``, ``note/``,
    ``annotation/``, ``final/``, ``answer/``) turns the label into TOOL, NOTE or FINAL.
    """
    ts = format_ts(timestamp)
    line = f"{ts}  agent={_agent(agent_id)}  {_label(operation, key):<5}  key={format_key(key):<20}  v={version}"
    if value is not None:
        line = f"{line}  {format_value_summary(value)}"
    return _with_namespace(ts, line, namespace)


def format_event_verbose(
    timestamp: int | float | datetime | None,
    agent_id: str,
    operation: str,
    key: str,
    version: int,
    txn_id: str,
    event_id: int,
    value: Any | None = None,
    namespace: str = "default",
) -> str:
    """One operation in the verbose form: the header line, then ``  payload: <JSON>`` unless it is a delete.

    The label is the operation itself (``WRITE``, ``DELETE``); the payload is complete.
    """
    ts = format_ts(timestamp)
    txn = _printable(txn_id)[:_TXN_SHORT]
    header = (
        f"{ts}  agent={_agent(agent_id)}  {operation.upper():<5}  key={format_key(key)}  v={version}"
        f"  txn={txn}  event={event_id}"
    )
    header = _with_namespace(ts, header, namespace)
    if value is None:
        return header
    payload = _compact(value)
    return f"{header}\n  payload: {'<unprintable>' if payload is None else payload}"


def format_event_json(event_data: dict[str, Any]) -> str:
    """An event as one line of compact JSON (JSON Lines); an error object if it cannot be serialized."""
    try:
        return json.dumps(event_data, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as err:
        fallback = {"error": "serialization_failed", "message": str(err), "event_id": event_data.get("event_id")}
        return json.dumps(fallback, separators=(",", ":"), default=str)
