"""The client, as in the original SDK: ``Statehouse`` and its ``Transaction``.

The result types and exceptions are importable from here too, as they were.
"""

from ._client import Statehouse, Transaction
from ._errors import ConnectionError, NotFoundError, StatehouseError, TransactionError
from ._types import Operation, ReplayEvent, StateResult

__all__ = [
    "ConnectionError",
    "NotFoundError",
    "Operation",
    "ReplayEvent",
    "StateResult",
    "Statehouse",
    "StatehouseError",
    "Transaction",
    "TransactionError",
]
