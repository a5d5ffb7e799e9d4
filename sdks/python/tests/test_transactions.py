"""Transactions of the blocking client against the real daemon: lifecycle, validation, conflicts, retries."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from statehouse import ConflictError, Statehouse, StatehouseError, Transaction, TransactionError

Put = Callable[[str, dict[str, object]], int]


def test_commit_returns_commit_ts_and_applies_everything_atomically(client: Statehouse, agent: str) -> None:
    tx = client.begin_transaction()
    assert tx.txn_id
    tx.write(agent_id=agent, key="a", value={"v": 1})
    tx.write(agent_id=agent, key="b", value={"v": 2})
    assert client.list_keys(agent) == []  # buffered: nothing visible before the commit
    commit_ts = tx.commit()
    assert commit_ts == tx.commit_ts and tx.committed and not tx.duplicate
    assert {r.key: (r.commit_ts, r.version) for r in client.scan_prefix(agent, "")} == {
        "a": (commit_ts, 1),
        "b": (commit_ts, 1),
    }


def test_context_manager_commits_on_success(client: Statehouse, agent: str) -> None:
    with client.begin_transaction() as tx:
        tx.write(agent, "k", {"v": 1})
    assert tx.committed
    assert client.get_state(agent, "k").commit_ts == tx.commit_ts


def test_context_manager_aborts_on_exception(client: Statehouse, agent: str) -> None:
    with pytest.raises(RuntimeError, match="boom"), client.begin_transaction() as tx:
        tx.write(agent, "k", {"v": 1})
        raise RuntimeError("boom")
    assert tx.aborted and not tx.committed
    assert not client.get_state(agent, "k").exists
    assert list(client.replay(agent)) == []  # aborted transactions leave no trace


def test_second_commit_raises_transaction_error(client: Statehouse, agent: str) -> None:
    tx = client.begin_transaction()
    tx.write(agent, "k", {"v": 1})
    tx.commit()
    with pytest.raises(TransactionError) as info:
        tx.commit()
    assert info.value.code == "TXN_ALREADY_COMMITTED"
    with pytest.raises(TransactionError):
        tx.write(agent, "k", {"v": 2})
    with pytest.raises(TransactionError):
        tx.abort()


def test_abort_is_idempotent_and_final(client: Statehouse, agent: str) -> None:
    tx = client.begin_transaction()
    tx.write(agent, "k", {"v": 1})
    tx.abort()
    tx.abort()
    assert tx.aborted
    with pytest.raises(TransactionError) as info:
        tx.commit()
    assert info.value.code == "TXN_ABORTED"
    with pytest.raises(TransactionError):
        tx.delete(agent, "k")
    assert not client.get_state(agent, "k").exists


def test_unknown_transaction_id_fails_at_commit(client: Statehouse, agent: str) -> None:
    tx = Transaction(client, "no-such-transaction")
    tx.write(agent, "k", {"v": 1})  # buffered: no error yet
    with pytest.raises(TransactionError) as info:
        tx.commit()
    assert info.value.code == "TXN_NOT_FOUND"
    assert not client.get_state(agent, "k").exists


def test_expired_transaction_fails_at_commit(client: Statehouse, agent: str) -> None:
    tx = client.begin_transaction(timeout_ms=50)
    tx.write(agent, "k", {"v": 1})
    time.sleep(0.3)
    with pytest.raises(TransactionError) as info:
        tx.commit()
    assert info.value.code == "TXN_EXPIRED"
    assert "expired" in str(info.value)
    assert not client.get_state(agent, "k").exists


def test_writes_are_validated_at_once(client: Statehouse, agent: str) -> None:
    tx = client.begin_transaction()
    with pytest.raises(TypeError, match="must be a dict"):
        tx.write(agent, "k", ["not", "an", "object"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not JSON-serializable"):
        tx.write(agent, "k", {"when": object()})
    with pytest.raises(TypeError):
        tx.write(agent, 5, {"v": 1})  # type: ignore[arg-type]
    with pytest.raises(TransactionError) as info:
        tx.write(agent, "k", {"blob": "x" * (1024 * 1024)})
    assert (info.value.code, info.value.details["limit"]) == ("LIMIT_EXCEEDED", "max_value_bytes")
    with pytest.raises(TransactionError) as empty:
        tx.write(agent, "", {"v": 1})
    assert empty.value.code == "INVALID_REQUEST"
    tx.write(agent, "k", {"v": 1})  # the transaction is still usable
    tx.commit()
    assert client.get_state(agent, "k").value == {"v": 1}


def test_daemon_side_rejections_at_commit_are_transaction_errors(client: Statehouse, agent: str) -> None:
    tx = client.begin_transaction()
    tx.write(agent, "k" * 5000, {"v": 1})  # over the daemon's key size limit
    with pytest.raises(TransactionError) as info:
        tx.commit()
    assert (info.value.code, info.value.details["limit"]) == ("LIMIT_EXCEEDED", "max_key_bytes")
    assert tx.aborted


def test_begin_with_an_invalid_timeout_is_a_transaction_error(client: Statehouse) -> None:
    with pytest.raises(TransactionError):
        client.begin_transaction(timeout_ms=10**12)


def test_tx_get_reads_committed_state_and_detects_conflicts(client: Statehouse, agent: str, put: Put) -> None:
    put("counter", {"n": 1})
    tx = client.begin_transaction()
    seen = tx.get(agent, "counter")
    assert seen.value == {"n": 1} and seen.version == 1
    put("counter", {"n": 100})  # a concurrent writer commits first
    tx.write(agent, "counter", {"n": 2})
    with pytest.raises(ConflictError) as info:
        tx.commit()
    assert info.value.code == "CONFLICT"
    assert isinstance(info.value, TransactionError)
    assert client.get_state(agent, "counter").value == {"n": 100}


def test_tx_get_of_a_missing_key_guards_against_its_creation(client: Statehouse, agent: str, put: Put) -> None:
    tx = client.begin_transaction()
    assert not tx.get(agent, "lock").exists
    put("lock", {"owner": "other"})
    tx.write(agent, "lock", {"owner": "me"})
    with pytest.raises(ConflictError):
        tx.commit()


def test_run_transaction_retries_conflicts(client: Statehouse, agent: str, put: Put) -> None:
    put("counter", {"n": 0})
    attempts = 0

    def increment(tx: Transaction) -> int:
        nonlocal attempts
        attempts += 1
        n = int((tx.get(agent, "counter").value or {})["n"]) + 1
        if attempts == 1:
            put("counter", {"n": 10})  # interferes once
        tx.write(agent, "counter", {"n": n})
        return n

    assert client.run_transaction(increment) == 11
    assert attempts == 2
    assert client.get_state(agent, "counter").value == {"n": 11}


def test_run_transaction_gives_up_after_retries(client: Statehouse, agent: str, put: Put) -> None:
    put("hot", {"n": 0})
    attempts = 0

    def always_conflicts(tx: Transaction) -> None:
        nonlocal attempts
        attempts += 1
        tx.get(agent, "hot")
        put("hot", {"n": attempts})
        tx.write(agent, "hot", {"n": -1})

    with pytest.raises(ConflictError):
        client.run_transaction(always_conflicts, retries=2)
    assert attempts == 3


def test_run_transaction_does_not_retry_the_functions_own_errors(client: Statehouse, agent: str) -> None:
    calls = 0

    def fails(tx: Transaction) -> None:
        nonlocal calls
        calls += 1
        tx.write(agent, "k", {"v": 1})
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        client.run_transaction(fails)
    assert calls == 1
    assert not client.get_state(agent, "k").exists


def test_idempotency_key_applies_a_commit_once(client: Statehouse, agent: str) -> None:
    first = client.begin_transaction(idempotency_key=f"once-{agent}")
    first.write(agent, "k", {"v": 1})
    ts = first.commit()
    again = client.begin_transaction(idempotency_key=f"once-{agent}")
    again.write(agent, "k", {"v": 1})
    assert again.commit() == ts
    assert again.duplicate
    # The key is bound to its content: other operations under it are refused, naming the key.
    other = client.begin_transaction(idempotency_key=f"once-{agent}")
    other.write(agent, "k", {"v": 2})
    with pytest.raises(StatehouseError, match=re.escape(f"once-{agent}")):
        other.commit()
    assert client.get_state(agent, "k").version == 1
    assert len(list(client.replay(agent))) == 1


def test_statehouse_error_carries_a_stable_code(client: Statehouse) -> None:
    with pytest.raises(StatehouseError) as info:
        client.scan_prefix("", "x")
    assert info.value.code == "INVALID_REQUEST"


def test_tx_get_shows_the_transactions_own_writes(client: Statehouse, agent: str, put: Put) -> None:
    """Read your own writes, as in the TypeScript SDK: value/exists pending, version committed."""
    committed = put("k", {"v": 1})
    tx = client.begin_transaction()
    tx.write(agent, "k", {"v": 2})
    mine = tx.get(agent, "k")
    assert (mine.value, mine.exists, mine.version, mine.commit_ts) == ({"v": 2}, True, 1, committed)
    tx.delete(agent, "k")
    assert (tx.get(agent, "k").value, tx.get(agent, "k").exists) == (None, False)
    tx.write(agent, "new", {"n": 1})
    assert (tx.get(agent, "new").value, tx.get(agent, "new").version) == ({"n": 1}, 0)
    tx.commit()
    assert not client.get_state(agent, "k").exists
