"""The exceptions, as in the original SDK, plus ``ConflictError`` and the two refusals of an API key.

``AuthenticationError`` (no or a bad key) and ``PermissionDeniedError`` (a missing role) are new.

``StatehouseError`` is the base of ``TransactionError`` (and its ``ConflictError``),
``NotFoundError`` and ``ConnectionError``. A connection failure while beginning or
committing a transaction (also when a ``with`` block commits) is both a
``ConnectionError`` and a ``TransactionError``, so ``except TransactionError`` keeps
catching it as it did with the original SDK.
"""

from ._errors import (
    AuthenticationError,
    ConflictError,
    ConnectionError,
    NotFoundError,
    PermissionDeniedError,
    StatehouseError,
    TransactionError,
)

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "ConnectionError",
    "NotFoundError",
    "PermissionDeniedError",
    "StatehouseError",
    "TransactionError",
]
