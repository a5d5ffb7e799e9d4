"""Statehouse Python SDK: durable, versioned, replayable state for AI agents.

>>> from statehouse import Statehouse
>>> client = Statehouse(url="localhost:50051")
>>> with client.begin_transaction() as tx:
...     tx.write(agent_id="agent-1", key="memory", value={"fact": "Paris is in France"})
>>> client.get_state(agent_id="agent-1", key="memory").value
{'fact': 'Paris is in France'}
"""

from ._async_client import AsyncStatehouse, AsyncTransaction
from ._client import Statehouse, Transaction
from ._errors import (
    AuthenticationError,
    ConflictError,
    ConnectionError,
    NotFoundError,
    PermissionDeniedError,
    StatehouseError,
    TransactionError,
)
from ._types import Operation, ReplayEvent, StateResult

__version__ = "0.2.0"

__all__ = [
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
