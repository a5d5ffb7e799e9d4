"""The SDK's exceptions and the one place where wire errors become them.

Every error the daemon returns carries a ``statehouse.v1.StatehouseError``
detail whose ``ErrorCode`` decides the exception class; errors without that
detail did not come from the daemon (refused or reset connections, a daemon
killed mid-call, a proxy) and are classified by their Connect code.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from connectrpc.code import Code
from connectrpc.errors import ConnectError

from ._gen.statehouse.v1 import statehouse_pb2 as pb

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "ConnectionError",
    "NotFoundError",
    "PermissionDeniedError",
    "StatehouseError",
    "TransactionConnectionError",
    "TransactionError",
    "translate_errors",
]

_DETAIL_TYPE = "statehouse.v1.StatehouseError"


class StatehouseError(Exception):
    """Base class of every error the SDK raises (except ``TypeError`` for misuse).

    ``code`` is the stable name of a ``statehouse.v1.ErrorCode`` (``"TXN_EXPIRED"``,
    ``"CONFLICT"``, ``"UNAVAILABLE"``...); branch on it, never on the message.
    ``details`` holds the daemon's extra information (for example ``limit``).
    """

    def __init__(self, message: str, *, code: str = "UNKNOWN", details: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details: dict[str, str] = dict(details or {})


class TransactionError(StatehouseError):
    """A transaction's lifecycle failed: unknown, expired, already finished, or its commit was rejected."""


class ConflictError(TransactionError):
    """A value read inside the transaction changed before the commit; nothing was applied. Retry."""


class NotFoundError(StatehouseError):
    """The requested version (or other resource) does not exist."""


class ConnectionError(StatehouseError, builtins.ConnectionError):  # the original SDK's name
    """The daemon could not be reached, or went away during the call (refused, reset, killed, shutting down).

    It is also a builtin ``ConnectionError``, so ``except ConnectionError`` works
    with or without importing it from ``statehouse``.
    """


class AuthenticationError(StatehouseError):
    """The daemon wants a credential and got none, or one it does not accept (code ``UNAUTHENTICATED``).

    An unknown, revoked, expired or malformed API key, or no key where the daemon
    requires one. Retrying with the same credential cannot succeed.
    """


class PermissionDeniedError(StatehouseError):
    """The credential lacks the role the call needs (code ``PERMISSION_DENIED``).

    ``details["namespace"]`` and ``details["role"]`` name the namespace and the role
    (``read``, ``write``, ``admin``) it would take. Nothing was applied.
    """


class TransactionConnectionError(ConnectionError, TransactionError):
    """A connection failure while beginning, committing or aborting a transaction.

    Both a ``ConnectionError`` (ours and the builtin) and a ``TransactionError``: the
    original SDK raised ``TransactionError`` there, and its users catch that.
    """


_BY_CODE: dict[int, type[StatehouseError]] = {
    pb.TXN_NOT_FOUND: TransactionError,
    pb.TXN_EXPIRED: TransactionError,
    pb.TXN_ALREADY_COMMITTED: TransactionError,
    pb.TXN_ABORTED: TransactionError,
    pb.CONFLICT: ConflictError,
    pb.KEY_NOT_FOUND: NotFoundError,
    pb.VERSION_NOT_FOUND: NotFoundError,
    pb.UNAVAILABLE: ConnectionError,
    pb.UNAUTHENTICATED: AuthenticationError,
    pb.PERMISSION_DENIED: PermissionDeniedError,
}

# Errors without a StatehouseError detail: these codes mean the call never got a
# daemon's answer (connectrpc reports transport failures as UNAVAILABLE, a stream
# cut short as INTERNAL or UNKNOWN, a reset stream as CANCELED, its own deadline
# as DEADLINE_EXCEEDED).
_TRANSPORT_CODES = frozenset({Code.UNAVAILABLE, Code.INTERNAL, Code.UNKNOWN, Code.CANCELED, Code.DEADLINE_EXCEEDED})
_BY_CONNECT_CODE: dict[Code, tuple[type[StatehouseError], str]] = {
    Code.ABORTED: (ConflictError, "CONFLICT"),
    Code.FAILED_PRECONDITION: (TransactionError, "UNKNOWN"),
    Code.NOT_FOUND: (NotFoundError, "UNKNOWN"),
    Code.INVALID_ARGUMENT: (StatehouseError, "INVALID_REQUEST"),
    Code.RESOURCE_EXHAUSTED: (StatehouseError, "LIMIT_EXCEEDED"),
    # An RPC the daemon does not have (an original 0.1.x daemon has only the first twelve).
    Code.UNIMPLEMENTED: (StatehouseError, "UNIMPLEMENTED"),
    # Without a detail: a proxy in front of the daemon, or a daemon older than the detail.
    Code.UNAUTHENTICATED: (AuthenticationError, "UNAUTHENTICATED"),
    Code.PERMISSION_DENIED: (PermissionDeniedError, "PERMISSION_DENIED"),
}


def _detail(err: ConnectError) -> pb.StatehouseError | None:
    for detail in err.details:
        if detail.type_name == _DETAIL_TYPE:
            return pb.StatehouseError.FromString(detail.message_bytes)
    return None


def from_connect_error(err: ConnectError, *, address: str, transactional: bool = False) -> StatehouseError:
    """Maps a Connect error to the SDK's exception.

    ``transactional`` marks calls of the transaction lifecycle (begin, commit,
    abort): a rejection there is a ``TransactionError`` whatever its cause, and a
    connection failure a ``TransactionConnectionError`` (both kinds).
    """
    detail = _detail(err)
    cls: type[StatehouseError]
    if detail is not None and detail.code in _BY_CODE:
        cls, code = _BY_CODE[detail.code], pb.ErrorCode.Name(detail.code)
    elif detail is not None and detail.code in pb.ErrorCode.values():
        cls, code = StatehouseError, pb.ErrorCode.Name(detail.code)
    elif err.code in _TRANSPORT_CODES or (err.__cause__ is not None and not isinstance(err.__cause__, ConnectError)):
        cls, code = ConnectionError, "UNAVAILABLE"
    else:
        cls, code = _BY_CONNECT_CODE.get(err.code, (StatehouseError, "UNKNOWN"))
    details = dict(detail.details) if detail is not None else {}
    message = detail.message if detail is not None and detail.message else err.message
    if cls is ConnectionError:
        if err.__cause__ is not None and not isinstance(err.__cause__, ConnectError):
            message = message.rsplit(": ", 1)[-1]  # the root cause of the transport's error chain
        message = f"connection to the Statehouse daemon at {address} failed: {message}"
        if transactional:
            cls = TransactionConnectionError
    elif transactional and not issubclass(cls, (TransactionError, AuthenticationError, PermissionDeniedError)):
        cls = TransactionError
    return cls(message, code=code, details=details)


@contextmanager
def translate_errors(address: str, *, transactional: bool = False) -> Iterator[None]:
    """Re-raises Connect errors inside the block as the SDK's exceptions.

    A task cancellation that connectrpc wrapped as ``CANCELED`` is re-raised as
    the original ``asyncio.CancelledError``.
    """
    try:
        yield
    except ConnectError as err:
        if isinstance(err.__cause__, asyncio.CancelledError):
            raise err.__cause__ from None
        raise from_connect_error(err, address=address, transactional=transactional) from err
