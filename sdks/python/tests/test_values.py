"""Value validation and Struct conversion, and address parsing (pure; no daemon)."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from statehouse._calls import normalize_url
from statehouse._values import check_value, from_struct, to_struct, value_size


def test_round_trip_keeps_json_types_and_integers() -> None:
    value = {"i": 1, "f": 2.5, "s": "é\n", "b": False, "n": None, "l": [1, [2, {"x": 3}]], "big": 2**53, "neg": -7}
    check_value(value)
    assert from_struct(to_struct(value)) == value
    assert isinstance(from_struct(to_struct(value))["i"], int)


def test_mappings_and_tuples_are_accepted() -> None:
    value = {"m": MappingProxyType({"a": (1, 2)})}
    check_value(value)
    assert from_struct(to_struct(value)) == {"m": {"a": [1, 2]}}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1], "must be a dict"),
        ("text", "must be a dict"),
        ({"a": float("nan")}, "not a JSON number"),
        ({"a": float("inf")}, "not a JSON number"),
        ({1: "x"}, "is not a string"),
        ({"a": {"b": [{1, 2}]}}, "value['a']['b'][0]: set is not JSON-serializable"),
        ({"a": 2**60}, "cannot be stored exactly"),
        ({"a": b"bytes"}, "bytes is not JSON-serializable"),
    ],
)
def test_unstorable_values_raise_type_error(value: object, message: str) -> None:
    with pytest.raises(TypeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_value(value)


def test_size_is_utf8_compact_json_like_the_daemon() -> None:
    assert value_size({"a": "é"}) == len('{"a":"é"}'.encode())


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("localhost:50051", "http://localhost:50051"),
        ("localhost", "http://localhost:50051"),
        ("127.0.0.1:7000", "http://127.0.0.1:7000"),
        ("http://127.0.0.1:7000/", "http://127.0.0.1:7000"),
        ("https://statehouse.example.com", "https://statehouse.example.com"),
        ("dns:///localhost:50051", "http://localhost:50051"),
        ("[::1]:50051", "http://[::1]:50051"),
    ],
)
def test_addresses(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


def test_bad_addresses() -> None:
    with pytest.raises(ValueError, match="invalid Statehouse address"):
        normalize_url("ftp://x:1")
    with pytest.raises(TypeError):
        normalize_url(50051)  # type: ignore[arg-type]
