"""Commits through the original twelve RPCs, for a daemon without ``Transact`` (the original 0.1.x).

When ``Transact`` answers UNIMPLEMENTED, the client says so once in the ``statehouse``
log and from then on commits as the original SDK did: ``BeginTransaction``, one
``Write``/``Delete`` per buffered operation, ``Commit``. What such a daemon cannot do is
refused rather than faked: reads recorded with ``tx.get`` (no conflict check exists),
and resending a ``Commit`` whose answer was lost (no idempotency keys: it could apply
twice) raise ``TransactionError`` with code ``UNIMPLEMENTED``.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from ._calls import Unary
from ._errors import TransactionError
from ._gen.statehouse.v1 import statehouse_pb2 as pb
from ._txn import TxState, TxStatus

__all__ = ["announce", "begin", "commit", "is_unimplemented", "operations"]

log = logging.getLogger("statehouse")

# Transactions whose Commit went out on the legacy path: their outcome is unknowable after a lost answer.
_commit_sent: weakref.WeakSet[TxState] = weakref.WeakSet()


def is_unimplemented(err: Exception) -> bool:
    return getattr(err, "code", None) == "UNIMPLEMENTED"


def announce(address: str) -> None:
    log.warning(
        "the daemon at %s does not implement Transact (an original Statehouse daemon?): "
        "committing with BeginTransaction/Write/Delete/Commit from now on",
        address,
    )


def begin(state: TxState) -> Unary[str]:
    """BeginTransaction for the commit (after checking that the legacy path can keep the transaction's promises)."""
    if state.reads:
        raise TransactionError(
            "the daemon does not implement Transact, so the values read with tx.get cannot be checked"
            " for conflicts: commit without tx.get, or use a daemon that implements Transact",
            code="UNIMPLEMENTED",
        )
    if state in _commit_sent:
        raise TransactionError(
            "the answer to this transaction's Commit was lost and the daemon has no idempotency keys:"
            " it may have applied, and resending it could apply it twice (check the state, then retry)",
            code="UNIMPLEMENTED",
        )
    return Unary(
        "begin_transaction", pb.BeginTransactionRequest(timeout_ms=state.timeout_ms), lambda r: str(r.txn_id), True
    )


def operations(state: TxState, txn_id: str) -> list[Unary[None]]:
    """One Write or Delete per buffered operation, in order."""
    calls: list[Unary[None]] = []
    for op in state.operations:
        ref: dict[str, Any] = {"txn_id": txn_id, "namespace": op.namespace, "agent_id": op.agent_id, "key": op.key}
        if op.delete:
            calls.append(Unary("delete", pb.DeleteRequest(**ref), lambda r: None, True))
        else:
            calls.append(Unary("write", pb.WriteRequest(**ref, value=op.value), lambda r: None, True))
    return calls


def commit(state: TxState, txn_id: str) -> Unary[int]:
    """Commit of the server transaction; on success the transaction is committed."""
    _commit_sent.add(state)

    def committed(resp: Any) -> int:
        state.commit_ts = int(resp.commit_ts)
        state.duplicate = False
        state.status = TxStatus.COMMITTED
        return state.commit_ts

    return Unary("commit", pb.CommitRequest(txn_id=txn_id), committed, True)
