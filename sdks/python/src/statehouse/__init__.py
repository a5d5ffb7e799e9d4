"""Statehouse Python SDK."""

__all__: list[str] = []
