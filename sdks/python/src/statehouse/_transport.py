"""HTTP transport settings shared by the sync and async clients.

The SDK speaks gRPC (HTTP/2; cleartext ``http://`` addresses use HTTP/2 without
TLS, as grpcio does), so it works with the original gRPC-only daemon as well as
with ours, which serves gRPC, gRPC-Web and Connect on one port. ``protocol="connect"``
selects the Connect protocol over HTTP/1.1 instead (for proxies without HTTP/2).
"""

from __future__ import annotations

from typing import Any, Literal

from connectrpc.protocol import ProtocolType
from pyqwest import HTTPVersion

from ._credentials import Credentials

__all__ = ["PROTOCOLS", "Protocol", "stub_protocol", "timeout_ms", "transport_options"]

Protocol = Literal["grpc", "connect"]
PROTOCOLS: tuple[Protocol, ...] = ("grpc", "connect")


def _check(protocol: object) -> Protocol:
    if protocol not in PROTOCOLS:
        raise TypeError(f"protocol must be one of {', '.join(map(repr, PROTOCOLS))}, got {protocol!r}")
    return protocol  # type: ignore[return-value]


def transport_options(
    address: str, protocol: Protocol = "grpc", credentials: Credentials | None = None
) -> dict[str, Any]:
    """Options for ``pyqwest.HTTPTransport`` / ``SyncHTTPTransport``.

    gRPC: HTTP/2 (one multiplexed connection); Connect: HTTP/1.1 (a pool of
    keep-alive connections). A stale connection after a daemon restart is
    replaced transparently. ``https://`` is TLS, verified against the system CAs
    or only the credentials' ``ca_cert``; see ``Credentials``.
    """
    options: dict[str, Any] = {
        **(credentials or Credentials()).transport_options(address),
        "connect_timeout": 10.0,
        "follow_redirects": False,
        "enable_otel": False,
    }
    if _check(protocol) == "grpc":
        options["http_version"] = HTTPVersion.HTTP2
    return options


def stub_protocol(protocol: Protocol = "grpc") -> ProtocolType:
    """The connectrpc protocol of the generated stubs."""
    return ProtocolType.GRPC if _check(protocol) == "grpc" else ProtocolType.CONNECT


def timeout_ms(timeout: float | None) -> int | None:
    """Seconds (the public unit) -> milliseconds (connectrpc's)."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise TypeError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    return max(1, round(timeout * 1000))
