"""Client-side transaction state shared by ``Transaction`` and ``AsyncTransaction``.

Writes and deletes are validated at once and buffered; reads made through the
transaction are recorded as preconditions (the version seen must still be the
key's version at commit). Nothing is opened on the daemon: the commit sends
everything in one ``Transact`` call with an idempotency key, the transaction's
only RPC besides its reads. Its timeout is checked here, before sending.

``TransactionRetry`` is the one retry policy of ``run_transaction``, for the
blocking and the asyncio client alike.
"""

from __future__ import annotations

import enum
import random
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from ._calls import Calls, Unary, check_str
from ._errors import ConflictError, ConnectionError, StatehouseError, TransactionError
from ._gen.statehouse.v1 import statehouse_pb2 as pb
from ._types import StateResult
from ._values import check_value, from_struct, to_struct, value_size

__all__ = ["Backoff", "Step", "TransactionBase", "TransactionRetry", "TxState", "TxStatus", "new_idempotency_key"]

# A transaction begun without ``timeout_ms`` expires after the daemon's default (STATEHOUSE_TX_TIMEOUT_MS).
DEFAULT_TIMEOUT_MS = 30_000
# The largest timeout any daemon accepts (its max_txn_timeout_ms cannot be set higher).
MAX_TIMEOUT_MS = 86_400_000


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


class TxStatus(enum.Enum):
    """Where a transaction is in its life: one value, so no impossible combination exists."""

    OPEN = "open"
    COMMITTED = "committed"
    #: Aborted by the caller, by an exception in the ``with`` block, or by a rejected commit.
    ABORTED = "aborted"
    #: A commit was sent but its answer lost: it may have applied. ``commit()`` resends the
    #: same operations with the same idempotency key, so they apply exactly once.
    OUTCOME_UNKNOWN = "outcome-unknown"


class TxState:
    def __init__(
        self,
        calls: Calls,
        txn_id: str | None,
        namespace: str,
        idempotency_key: str | None,
        max_value_bytes: int,
        timeout_ms: int | None = None,
    ) -> None:
        if txn_id is not None:
            check_str(txn_id=txn_id)
        check_str(namespace=namespace)
        if idempotency_key is not None:
            check_str(idempotency_key=idempotency_key)
        if timeout_ms is not None and (isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int)):
            raise TypeError(f"timeout_ms must be a positive int or None, got {timeout_ms!r}")
        if timeout_ms is not None and not 0 < timeout_ms <= MAX_TIMEOUT_MS:
            raise TransactionError(
                f"timeout_ms {timeout_ms} is out of range: 1 to {MAX_TIMEOUT_MS}",
                code="LIMIT_EXCEEDED",
                details={"limit": "max_txn_timeout_ms", "field": "timeout_ms"},
            )
        self.calls = calls
        # A server transaction opened elsewhere (BeginTransaction) that the commit finishes; None
        # for the SDK's own transactions, which exist only here until their one Transact.
        self.txn_id = txn_id
        self.local_id = uuid.uuid4().hex
        self.namespace = namespace
        self.idempotency_key = idempotency_key or new_idempotency_key()
        self.max_value_bytes = max_value_bytes
        self.timeout_ms = DEFAULT_TIMEOUT_MS if timeout_ms is None else timeout_ms
        self.deadline = time.monotonic() + self.timeout_ms / 1000
        self.operations: list[pb.TransactOperation] = []
        self.reads: dict[tuple[str, str, str], int] = {}
        self.status = TxStatus.OPEN
        self.commit_ts: int | None = None
        self.duplicate = False

    @property
    def committed(self) -> bool:
        return self.status is TxStatus.COMMITTED

    @property
    def aborted(self) -> bool:
        return self.status is TxStatus.ABORTED

    @property
    def ambiguous(self) -> bool:
        """The last commit's answer was lost: it may have applied (the next ``commit()`` resends it)."""
        return self.status is TxStatus.OUTCOME_UNKNOWN

    def describe(self) -> str:
        return (
            f"txn_id={self.txn_id or self.local_id!r} namespace={self.namespace!r} {self.status.value}"
            f" operations={len(self.operations)}"
        )

    def check_open(self) -> None:
        if self.status is TxStatus.COMMITTED:
            raise TransactionError("transaction already committed", code="TXN_ALREADY_COMMITTED")
        if self.status is TxStatus.ABORTED:
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
        """A read of committed state whose version becomes a precondition of the commit.

        For a key this transaction wrote or deleted, ``value`` and ``exists`` show that pending
        operation (read your own writes), as in the TypeScript SDK; ``version`` and
        ``commit_ts`` stay those of the committed state the transaction depends on.
        """
        ref = self._ref(agent_id, key, namespace)
        call = self.calls.get_state(agent_id, key, ref[0])

        def record(resp: Any) -> StateResult:
            result = call.convert(resp)
            self.reads.setdefault(ref, result.version)
            for op in reversed(self.operations):
                if (op.namespace, op.agent_id, op.key) == ref:
                    if op.delete:
                        return replace(result, value=None, exists=False)
                    return replace(result, value=from_struct(op.value), exists=True)
            return result

        return replace(call, convert=record)

    def commit(self) -> Unary[int]:
        self.check_open()
        # A resend of a commit whose answer was lost was sent in time: only a first send expires.
        if self.status is TxStatus.OPEN and time.monotonic() > self.deadline:
            self.status = TxStatus.ABORTED
            self.operations.clear()
            raise TransactionError(
                f"transaction expired: it is older than its timeout of {self.timeout_ms} ms", code="TXN_EXPIRED"
            )
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
            self.status = TxStatus.COMMITTED
            return self.commit_ts

        return Unary(call.method, call.request, committed, transactional=True)

    @contextmanager
    def committing(self) -> Iterator[None]:
        """A rejected commit finishes the transaction; a lost connection leaves it open to retry ``commit()``."""
        try:
            yield
        except ConnectionError:
            self.status = TxStatus.OUTCOME_UNKNOWN
            raise
        except StatehouseError:
            self.status = TxStatus.ABORTED
            raise

    def abort(self) -> Unary[None] | None:
        """Marks the transaction aborted; returns the call to make, if any (abort is idempotent).

        Only a server transaction opened elsewhere (``txn_id``) needs a call; the SDK's own
        transactions sent nothing before their commit.
        """
        if self.status is TxStatus.COMMITTED:
            raise TransactionError("cannot abort: transaction already committed", code="TXN_ALREADY_COMMITTED")
        if self.status is TxStatus.ABORTED:
            return None
        self.status = TxStatus.ABORTED
        self.operations.clear()
        return self.calls.abort(self.txn_id) if self.txn_id is not None else None


class Step(enum.Enum):
    """What ``run_transaction`` does next."""

    #: Run the function in a new transaction and commit it.
    RUN = "run"
    #: Resend the commit whose answer was lost (same operations, same idempotency key).
    RESEND = "resend"


class TransactionRetry:
    """The retry policy of ``run_transaction``, shared by the blocking and the asyncio client.

    - ``ConflictError``, ``ConnectionError`` and ``TXN_NOT_FOUND`` run the function again
      in a new transaction, with a fresh idempotency key (unless the caller gave one);
    - a commit whose answer was lost is resent as it was, never re-run: it applies exactly
      once, and the result returned is the one of the function run that was committed;
      a ``ConflictError`` on the resend means it had not applied, so the function runs again;
    - anything else (``STORAGE_FULL``, the function's own exceptions) is raised as it is.

    The client loops: ``step(tx)``, then run or resend; on a ``StatehouseError`` it sleeps
    ``delay_after(error)`` (which re-raises when the error is final) and loops again.
    """

    def __init__(self, retries: int, idempotency_key: str | None) -> None:
        if idempotency_key is not None:
            check_str(idempotency_key=idempotency_key)
        self._backoff = Backoff(retries)
        self._key = idempotency_key

    def idempotency_key(self) -> str:
        """The key of the next run of the function: the caller's, or a fresh one (a key binds one content)."""
        return self._key or new_idempotency_key()

    @staticmethod
    def step(tx: TransactionBase | None) -> Step:
        return Step.RESEND if tx is not None and tx._state.ambiguous else Step.RUN

    def delay_after(self, error: StatehouseError) -> float:
        """Seconds to wait before the next step; re-raises ``error`` when it is final or the budget is spent."""
        retryable = isinstance(error, (ConflictError, ConnectionError)) or error.code == "TXN_NOT_FOUND"
        if not retryable or (delay := self._backoff.next_delay()) is None:
            raise error
        return delay


class TransactionBase:
    """What ``Transaction`` and ``AsyncTransaction`` share: identity, status, and the buffering methods."""

    _state: TxState

    @property
    def txn_id(self) -> str:
        """The transaction's id: a client-side one (the daemon sees only the commit), or the server id it was given."""
        return self._state.txn_id or self._state.local_id

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
    def status(self) -> TxStatus:
        """The transaction's state: open, committed, aborted, or outcome-unknown (resend with ``commit()``)."""
        return self._state.status

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
