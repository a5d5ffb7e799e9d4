"""HTTP transport settings shared by the sync and async clients."""

from __future__ import annotations

from typing import Any

__all__ = ["timeout_ms", "transport_options"]


def transport_options(address: str) -> dict[str, Any]:
    """Options for ``pyqwest.HTTPTransport`` / ``SyncHTTPTransport``.

    Plaintext HTTP/1.1 (a pool of keep-alive connections: a stale one after a
    daemon restart is replaced transparently); system CAs for ``https://``.
    """
    return {
        "tls_include_system_certs": address.startswith("https://"),
        "connect_timeout": 10.0,
        "follow_redirects": False,
        "enable_otel": False,
    }


def timeout_ms(timeout: float | None) -> int | None:
    """Seconds (the public unit) -> milliseconds (connectrpc's)."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise TypeError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    return max(1, round(timeout * 1000))
