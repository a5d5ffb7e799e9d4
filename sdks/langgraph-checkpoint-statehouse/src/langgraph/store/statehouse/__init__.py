"""LangGraph's long-term memory store on Statehouse: ``StatehouseStore``."""

from ._store import StatehouseStore

__all__ = ["StatehouseStore"]
