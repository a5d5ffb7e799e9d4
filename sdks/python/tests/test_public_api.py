"""The public surface: export list, module hygiene, and the original SDK's signatures."""

from __future__ import annotations

import builtins
import importlib
import inspect
import pkgutil

import pytest

import statehouse
from statehouse import (
    AsyncStatehouse,
    ConflictError,
    ConnectionError,
    NotFoundError,
    Operation,
    ReplayEvent,
    StatehouseError,
    StateResult,
    Transaction,
    TransactionError,
)
from statehouse import Statehouse as Client


def test_public_exports_are_pinned() -> None:
    assert sorted(statehouse.__all__) == [
        "AsyncStatehouse",
        "AsyncTransaction",
        "AuthenticationError",
        "ConflictError",
        "ConnectionError",
        "NotFoundError",
        "Operation",
        "PermissionDeniedError",
        "ReplayEvent",
        "StateResult",
        "Statehouse",
        "StatehouseError",
        "Transaction",
        "TransactionError",
        "__version__",
    ]
    for name in statehouse.__all__:
        assert hasattr(statehouse, name), name


PUBLIC_MODULES = {
    "cli": ["cli", "main"],
    "cli.main": ["cli", "main"],
    "client": [
        "ConnectionError",
        "NotFoundError",
        "Operation",
        "ReplayEvent",
        "StateResult",
        "Statehouse",
        "StatehouseError",
        "Transaction",
        "TransactionError",
    ],
    "exceptions": [
        "AuthenticationError",
        "ConflictError",
        "ConnectionError",
        "NotFoundError",
        "PermissionDeniedError",
        "StatehouseError",
        "TransactionError",
    ],
    "formatting": [
        "format_event_json",
        "format_event_pretty",
        "format_event_verbose",
        "format_key",
        "format_ts",
        "format_value_summary",
    ],
    "types": ["Operation", "ReplayEvent", "StateResult"],
}


def _public_modules() -> list[str]:
    found = []
    for info in pkgutil.walk_packages(statehouse.__path__, prefix="statehouse."):
        name = info.name.removeprefix("statehouse.")
        if not any(part.startswith("_") for part in name.split(".")):
            found.append(name)
    return sorted(found)


def test_public_modules_are_the_originals_and_pin_their_exports() -> None:
    # The original SDK's modules; every other module is private (starts with "_").
    assert _public_modules() == sorted(PUBLIC_MODULES)
    for name, exports in PUBLIC_MODULES.items():
        module = importlib.import_module(f"statehouse.{name}")
        assert sorted(module.__all__) == exports, name
        for export in exports:
            assert hasattr(module, export), f"statehouse.{name}.{export}"


def test_public_modules_export_the_same_objects_as_the_package() -> None:
    from statehouse import client, exceptions, types

    assert (client.Statehouse, client.Transaction) == (Client, Transaction)
    assert (types.StateResult, types.ReplayEvent, types.Operation) == (StateResult, ReplayEvent, Operation)
    assert exceptions.TransactionError is TransactionError and exceptions.ConnectionError is ConnectionError
    assert client.StatehouseError is StatehouseError and client.NotFoundError is NotFoundError


def test_the_formatting_functions_keep_the_original_signatures() -> None:
    from statehouse import formatting

    common = [("agent_id", E), ("operation", E), ("key", E), ("version", E)]
    assert _signature(formatting.format_ts) == [("ts", E)]
    assert _signature(formatting.format_key) == [("key", E), ("max_len", 48)]
    assert _signature(formatting.format_value_summary) == [("value", E), ("max_len", 120)]
    assert _signature(formatting.format_event_pretty) == [
        ("timestamp", E),
        *common,
        ("value", None),
        ("namespace", "default"),
    ]
    assert _signature(formatting.format_event_verbose) == [
        ("timestamp", E),
        *common,
        ("txn_id", E),
        ("event_id", E),
        ("value", None),
        ("namespace", "default"),
    ]
    assert _signature(formatting.format_event_json) == [("event_data", E)]


def test_exception_hierarchy() -> None:
    from statehouse._errors import TransactionConnectionError

    # What a connection failure inside a transaction raises: both kinds.
    assert issubclass(TransactionConnectionError, ConnectionError)
    assert issubclass(TransactionConnectionError, TransactionError)
    assert issubclass(TransactionConnectionError, builtins.ConnectionError)
    assert issubclass(TransactionError, StatehouseError)
    assert issubclass(ConflictError, TransactionError)
    assert issubclass(NotFoundError, StatehouseError)
    assert issubclass(ConnectionError, StatehouseError)
    # `except ConnectionError:` without importing ours catches it too.
    assert issubclass(ConnectionError, builtins.ConnectionError)
    err = ConnectionError("down", code="UNAVAILABLE", details={"a": "b"})
    assert (str(err), err.code, err.details) == ("down", "UNAVAILABLE", {"a": "b"})


def _signature(fn: object) -> list[tuple[str, object]]:
    params = inspect.signature(fn).parameters.values()  # type: ignore[arg-type]
    return [(p.name, p.default) for p in params if p.kind is not p.KEYWORD_ONLY]


E = inspect.Parameter.empty
RANGE = [("self", E), ("agent_id", E), ("start_ts", None), ("end_ts", None), ("namespace", None)]


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("__init__", [("self", E), ("url", "localhost:50051"), ("namespace", "default")]),
        ("health", [("self", E)]),
        ("version", [("self", E)]),
        ("begin_transaction", [("self", E), ("timeout_ms", None), ("namespace", None)]),
        ("get_state", [("self", E), ("agent_id", E), ("key", E), ("namespace", None)]),
        ("get_state_at_version", [("self", E), ("agent_id", E), ("key", E), ("version", E), ("namespace", None)]),
        ("list_keys", [("self", E), ("agent_id", E), ("namespace", None)]),
        ("scan_prefix", [("self", E), ("agent_id", E), ("prefix", E), ("namespace", None)]),
        ("replay", RANGE),
        ("replay_events", RANGE),
        ("replay_pretty", [*RANGE, ("verbose", False)]),
        ("run_transaction", [("self", E), ("fn", E), ("retries", 3)]),
        ("watch", [("self", E), ("agent_id", E), ("start_ts", None), ("namespace", None)]),
        ("close", [("self", E)]),
    ],
)
def test_client_signatures_match_the_original(method: str, expected: list[tuple[str, object]]) -> None:
    assert _signature(getattr(Client, method)) == expected
    if method != "__init__":
        assert _signature(getattr(AsyncStatehouse, method)) == expected


def test_transaction_signatures_match_the_original() -> None:
    assert _signature(Transaction.__init__) == [("self", E), ("client", E), ("txn_id", E), ("namespace", "default")]
    assert _signature(Transaction.write) == [("self", E), ("agent_id", E), ("key", E), ("value", E)]
    assert _signature(Transaction.delete) == [("self", E), ("agent_id", E), ("key", E)]
    assert _signature(Transaction.commit) == [("self", E)]
    assert _signature(Transaction.abort) == [("self", E)]


def test_dataclasses_keep_the_original_positional_fields() -> None:
    assert StateResult({"a": 1}, 2, 3, True) == StateResult(value={"a": 1}, version=2, commit_ts=3, exists=True)
    assert Operation("k", None, 4).is_delete
    event = ReplayEvent("t", 5, [Operation("k", {"a": 1}, 1)], "ns", "agent")
    assert (event.namespace, event.agent_id, event.committed_at) == ("ns", "agent", None)


def test_constructor_never_touches_the_network() -> None:
    # Nothing listens on port 1; creating (and closing) a client must still work.
    with Client(url="127.0.0.1:1") as client:
        assert client.url == "http://127.0.0.1:1"


def test_packaging_is_0_2_0_with_dependency_ranges() -> None:
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    # Above the original 0.1.x, so `pip install -U statehouse` upgrades to it.
    assert project["version"] == statehouse.__version__ == "0.2.0"
    # Ranges, never exact pins, so the SDK installs beside the user's other packages; protobuf's
    # gencode/runtime rule: the same major, at least the gencode's version.
    assert project["dependencies"] == ["connectrpc>=0.13.0,<0.14", "protobuf>=7.35.1,<8", "click>=8.1,<9"]
    from google.protobuf import __version__ as protobuf_runtime

    assert protobuf_runtime.split(".")[0] == "7"
