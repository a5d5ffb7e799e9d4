"""The result types, as in the original SDK: ``StateResult``, ``Operation``, ``ReplayEvent``."""

from ._types import Operation, ReplayEvent, StateResult

__all__ = ["Operation", "ReplayEvent", "StateResult"]
