"""The exceptions, as in the original SDK, plus ``ConflictError``.

``StatehouseError`` is the base of ``TransactionError`` (and its ``ConflictError``),
``NotFoundError`` and ``ConnectionError``. A connection failure while beginning or
committing a transaction (also when a ``with`` block commits) is both a
``ConnectionError`` and a ``TransactionError``, so ``except TransactionError`` keeps
catching it as it did with the original SDK.
"""

from ._errors import ConflictError, ConnectionError, NotFoundError, StatehouseError, TransactionError

__all__ = ["ConflictError", "ConnectionError", "NotFoundError", "StatehouseError", "TransactionError"]
