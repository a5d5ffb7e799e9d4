"""OpenAI Agents SDK sessions on Statehouse."""

from ._session import StatehouseSession

__all__ = ["StatehouseSession"]
