"""LangGraph checkpoint savers on Statehouse: ``StatehouseSaver`` (blocking) and ``AsyncStatehouseSaver``."""

from ._async import AsyncStatehouseSaver
from ._sync import StatehouseSaver

__all__ = ["AsyncStatehouseSaver", "StatehouseSaver"]
