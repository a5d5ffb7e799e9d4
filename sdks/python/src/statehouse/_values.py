"""JSON object values: validation and conversion to and from ``google.protobuf.Struct``."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from google.protobuf.struct_pb2 import ListValue, NullValue, Struct, Value

__all__ = ["DEFAULT_MAX_VALUE_BYTES", "JsonObject", "check_value", "from_struct", "to_struct", "value_size"]

JsonObject = dict[str, Any]
"""A record's value: a JSON object (``dict`` with ``str`` keys and JSON values)."""

DEFAULT_MAX_VALUE_BYTES = 1024 * 1024
"""The daemon's default ``STATEHOUSE_MAX_VALUE_BYTES``."""

# Struct numbers are IEEE doubles: larger integers would silently change.
_MAX_SAFE_INT = 2**53


def check_value(value: object, path: str = "value") -> None:
    """Raises ``TypeError`` naming the first part of ``value`` that is not a storable JSON object."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{path} must be a dict (a JSON object), got {type(value).__name__}")
    _check(value, path)


def _check(value: object, path: str) -> None:
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INT:
            raise TypeError(f"{path}: integer {value} cannot be stored exactly (JSON numbers are doubles)")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{path}: {value} is not a JSON number")
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{path}: key {k!r} is not a string")
            _check(v, f"{path}[{k!r}]")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check(v, f"{path}[{i}]")
        return
    raise TypeError(f"{path}: {type(value).__name__} is not JSON-serializable")


def value_size(value: Mapping[str, Any]) -> int:
    """The value's size as the daemon counts it: bytes of its compact UTF-8 JSON."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=dict).encode())


def to_struct(value: Mapping[str, Any]) -> Struct:
    """Converts a value that passed ``check_value``."""
    struct = Struct()
    for k, v in value.items():
        _set_value(struct.fields[k], v)
    return struct


def _set_value(target: Value, value: Any) -> None:
    if value is None:
        target.null_value = NullValue.NULL_VALUE
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, (int, float)):
        target.number_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, Mapping):
        target.struct_value.CopyFrom(to_struct(value))
    else:
        items = target.list_value
        items.Clear()
        for v in value:
            _set_value(items.values.add(), v)


def from_struct(struct: Struct) -> JsonObject:
    """Converts to plain Python values; integral numbers come back as ``int``.

    Fields come in key order (the wire's map order is arbitrary), so printed values are deterministic.
    """
    fields = struct.fields
    return {k: _from_value(fields[k]) for k in sorted(fields)}


def _from_list(values: ListValue) -> list[Any]:
    return [_from_value(v) for v in values.values]


def _from_value(value: Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return from_struct(value.struct_value)
    if kind == "list_value":
        return _from_list(value.list_value)
    if kind == "number_value":
        n = value.number_value
        return int(n) if n.is_integer() and abs(n) <= _MAX_SAFE_INT else n
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    return None
