"""``statehousectl``, the command-line interface (``python -m statehouse.cli`` runs it too)."""

from .main import cli, main

__all__ = ["cli", "main"]
