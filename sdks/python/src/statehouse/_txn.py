"""Client-side transaction state shared by ``Transaction`` and ``AsyncTransaction``.

Writes and deletes are validated at once and buffered; reads made through the
transaction are recorded as preconditions (the version seen must still be the
key's version at commit). The commit sends everything in one ``Transact`` call
with the server transaction's id and an idempotency key.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from ._calls import Calls, Unary, check_str
from ._errors import ConnectionError, StatehouseError, TransactionError
from ._gen.statehouse.v1 import statehouse_pb2 as pb
from ._types import StateResult
from ._values import check_value, to_struct, value_size

__all__ = ["Backoff", "TransactionBase", "TxState", "new_idempotency_key"]


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


class Backoff:
    """The retry budget of one ``run_transaction``: exponential delays with jitter (about 0.2 s, 0.4 s, 0.8 s...)."""

    def __init__(self, retries: int, *, base: float = 0.2, cap: float = 5.0) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise TypeError(f"retries must be a non-negative int, got {retries!r}")
        self.retries = retries
        self.attempt = 0
        self.base = base
        self.cap = cap

    def next_delay(self) -> float | None:
        """The delay before the next attempt, or ``None`` when the budget is spent."""
        if self.attempt >= self.retries:
            return None
        delay = min(self.cap, self.base * 2.0**self.attempt) * (0.5 + random.random() / 2)
        self.attempt += 1
        return delay


class TxState:
    def __init__(
        self, calls: Calls, txn_id: str | None, namespace: str, idempotency_key: str | None, max_value_bytes: int
    ) -> None:
        if txn_id is not None:
            check_str(txn_id=txn_id)
        check_str(namespace=namespace)
        if idempotency_key is not None:
            check_str(idempotency_key=idempotency_key)
        self.calls = calls
        self.txn_id = txn_id
        self.namespace = namespace
        self.idempotency_key = idempotency_key or new_idempotency_key()
        self.max_value_bytes = max_value_bytes
        self.operations: list[pb.TransactOperation] = []
        self.reads: dict[tuple[str, str, str], int] = {}
        self.committed = False
        self.aborted = False
        self.commit_ts: int | None = None
        self.duplicate = False
        # A commit was sent but its answer lost: it may have applied. Later commits resend the
        # same operations as a one-shot Transact with the same idempotency key (the server
        # transaction may be gone with a restarted daemon), so they apply exactly once.
        self.ambiguous = False

    def describe(self) -> str:
        status = "committed" if self.committed else "aborted" if self.aborted else "open"
        return f"txn_id={self.txn_id!r} namespace={self.namespace!r} {status} operations={len(self.operations)}"

    def check_open(self) -> None:
        if self.committed:
            raise TransactionError("transaction already committed", code="TXN_ALREADY_COMMITTED")
        if self.aborted:
            raise TransactionError("transaction already aborted", code="TXN_ABORTED")

    def _ref(self, agent_id: str, key: str, namespace: str | None) -> tuple[str, str, str]:
        check_str(agent_id=agent_id, key=key)
        if namespace is not None:
            check_str(namespace=namespace)
        self.check_open()
        ns = namespace or self.namespace
        if not agent_id or not key:
            raise TransactionError("agent_id and key must not be empty", code="INVALID_REQUEST")
        return ns, agent_id, key

    def write(self, agent_id: str, key: str, value: Mapping[str, Any], namespace: str | None) -> None:
        ns, agent_id, key = self._ref(agent_id, key, namespace)
        check_value(value)
        size = value_size(value)
        if size > self.max_value_bytes:
            raise TransactionError(
                f"value of {key!r} is {size} bytes as JSON, over the max_value_bytes limit of {self.max_value_bytes}",
                code="LIMIT_EXCEEDED",  # as the daemon reports it
                details={"limit": "max_value_bytes", "field": "value"},
            )
        self.operations.append(pb.TransactOperation(namespace=ns, agent_id=agent_id, key=key, value=to_struct(value)))

    def delete(self, agent_id: str, key: str, namespace: str | None) -> None:
        ns, agent_id, key = self._ref(agent_id, key, namespace)
        self.operations.append(pb.TransactOperation(namespace=ns, agent_id=agent_id, key=key, delete=True))

    def read(self, agent_id: str, key: str, namespace: str | None) -> Unary[StateResult]:
        """A read of committed state whose version becomes a precondition of the commit."""
        ref = self._ref(agent_id, key, namespace)
        call = self.calls.get_state(agent_id, key, ref[0])

        def record(resp: Any) -> StateResult:
            result = call.convert(resp)
            self.reads.setdefault(ref, result.version)
            return result

        return replace(call, convert=record)

    def begin(self, timeout_ms: int | None) -> Unary[None]:
        def started(txn_id: str) -> None:
            self.txn_id = txn_id

        call = self.calls.begin(timeout_ms)
        return Unary(call.method, call.request, lambda r: started(call.convert(r)), transactional=True)

    def commit(self) -> Unary[int]:
        self.check_open()
        request = pb.TransactRequest(
            txn_id=None if self.ambiguous else self.txn_id,
            operations=self.operations,
            preconditions=[
                pb.Precondition(namespace=ns, agent_id=agent, key=key, expected_version=version)
                for (ns, agent, key), version in self.reads.items()
            ],
            idempotency_key=self.idempotency_key,
        )
        call = self.calls.transact(request)

        def committed(resp: Any) -> int:
            self.commit_ts, self.duplicate = call.convert(resp)
            self.committed = True
            return self.commit_ts

        return Unary(call.method, call.request, committed, transactional=True)

    @contextmanager
    def committing(self) -> Iterator[None]:
        """A rejected commit finishes the transaction; a lost connection leaves it open to retry ``commit()``."""
        try:
            yield
        except ConnectionError:
            self.ambiguous = True
            raise
        except StatehouseError:
            self.aborted = True
            raise

    def abort(self) -> Unary[None] | None:
        """Marks the transaction aborted; returns the call to make, if any (abort is idempotent)."""
        if self.committed:
            raise TransactionError("cannot abort: transaction already committed", code="TXN_ALREADY_COMMITTED")
        if self.aborted:
            return None
        self.aborted = True
        self.operations.clear()
        return self.calls.abort(self.txn_id) if self.txn_id is not None else None


class TransactionBase:
    """What ``Transaction`` and ``AsyncTransaction`` share: identity, status, and the buffering methods."""

    _state: TxState

    @property
    def txn_id(self) -> str:
        """The server transaction's id ("" until it is opened)."""
        return self._state.txn_id or ""

    @property
    def namespace(self) -> str:
        """The namespace of operations that name none."""
        return self._state.namespace

    @property
    def idempotency_key(self) -> str:
        """Sent with the commit: a commit carrying a key that already committed applies nothing."""
        return self._state.idempotency_key

    @property
    def committed(self) -> bool:
        return self._state.committed

    @property
    def aborted(self) -> bool:
        """True after ``abort()``, an exception in the ``with`` block, or a rejected commit."""
        return self._state.aborted

    @property
    def commit_ts(self) -> int | None:
        """The commit's ``commit_ts`` once committed, else ``None``."""
        return self._state.commit_ts

    @property
    def duplicate(self) -> bool:
        """True when the idempotency key had already committed, so this commit applied nothing."""
        return self._state.duplicate

    def write(self, agent_id: str, key: str, value: Mapping[str, Any], *, namespace: str | None = None) -> None:
        """Buffers a write of ``value`` (a JSON object); raises at once if it cannot be stored."""
        self._state.write(agent_id, key, value, namespace)

    def delete(self, agent_id: str, key: str, *, namespace: str | None = None) -> None:
        """Buffers a delete (a tombstone: the key's version still increases)."""
        self._state.delete(agent_id, key, namespace)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._state.describe()}>"
