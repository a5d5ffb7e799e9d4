"""Credentials of a client: the API key it sends and the TLS files it trusts or presents.

The key goes in ``Authorization: Bearer <secret>`` on every call (gRPC and
Connect alike), added by a metadata interceptor so that every stub of the client
(``StatehouseService``, ``AuthService``) sends it. ``STATEHOUSE_API_KEY`` stands
in for ``api_key`` when that is not given. TLS comes from the URL: ``https://``
verifies the daemon against the system CAs, or only against ``ca_cert`` (a PEM
bundle path) when one is given; ``client_cert``/``client_key`` add a client
certificate (mTLS).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectrpc.request import RequestContext

__all__ = ["API_KEY_ENV", "BearerInterceptor", "BearerInterceptorSync", "Credentials"]

#: The environment variable read when no ``api_key`` is given.
API_KEY_ENV = "STATEHOUSE_API_KEY"
#: Longer than any key the daemon issues by far; a longer value is surely a mistake (a file's content).
_MAX_KEY_CHARS = 4096

PathLike = str | os.PathLike[str]


def _check_key(api_key: object, source: str) -> str:
    if not isinstance(api_key, str):
        raise TypeError(f"{source} must be a str or None, got {type(api_key).__name__}")
    if not api_key or len(api_key) > _MAX_KEY_CHARS or not all("\x21" <= c <= "\x7e" for c in api_key):
        raise ValueError(
            f"{source} must be 1 to {_MAX_KEY_CHARS} printable ASCII characters without spaces "
            "(an API key as statehousectl auth create-key prints it)"
        )
    return api_key


def _read_pem(path: PathLike | None, name: str) -> bytes | None:
    if path is None:
        return None
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike) or None, got {type(path).__name__}")
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ValueError(f"{name}: cannot read {os.fspath(path)!r}: {err.strerror or err}") from err
    if b"-----BEGIN " not in data:
        raise ValueError(f"{name}: {os.fspath(path)!r} is not a PEM file")
    return data


@dataclass(frozen=True)
class Credentials:
    """What a client authenticates with; built once per client by ``resolve``."""

    api_key: str | None = None
    ca_cert: bytes | None = None
    client_cert: bytes | None = None
    client_key: bytes | None = None

    @classmethod
    def resolve(
        cls,
        address: str,
        api_key: str | None,
        ca_cert: PathLike | None,
        client_cert: PathLike | None,
        client_key: PathLike | None,
    ) -> Credentials:
        """Validates the arguments (``STATEHOUSE_API_KEY`` when ``api_key`` is None) and reads the PEM files."""
        if api_key is not None:
            key: str | None = _check_key(api_key, "api_key")
        elif env := os.environ.get(API_KEY_ENV):
            key = _check_key(env, API_KEY_ENV)
        else:
            key = None
        tls = (ca_cert, client_cert, client_key)
        if any(f is not None for f in tls) and not address.startswith("https://"):
            raise ValueError(f"ca_cert, client_cert and client_key need an https:// url, got {address!r}")
        if (client_cert is None) != (client_key is None):
            raise ValueError("client_cert and client_key go together (mTLS needs both)")
        return cls(
            key,
            _read_pem(ca_cert, "ca_cert"),
            _read_pem(client_cert, "client_cert"),
            _read_pem(client_key, "client_key"),
        )

    def transport_options(self, address: str) -> dict[str, Any]:
        """The TLS part of ``pyqwest``'s transport options."""
        https = address.startswith("https://")
        options: dict[str, Any] = {"tls_include_system_certs": https and self.ca_cert is None}
        if self.ca_cert is not None:
            options["tls_ca_cert"] = self.ca_cert
        if self.client_cert is not None:
            options["tls_cert"] = self.client_cert
            options["tls_key"] = self.client_key
        return options

    def interceptors_sync(self) -> tuple[BearerInterceptorSync, ...]:
        return () if self.api_key is None else (BearerInterceptorSync(self.api_key),)

    def interceptors(self) -> tuple[BearerInterceptor, ...]:
        return () if self.api_key is None else (BearerInterceptor(self.api_key),)


class BearerInterceptorSync:
    """Adds ``Authorization: Bearer <key>`` to every call of a blocking client."""

    def __init__(self, api_key: str) -> None:
        self._value = f"Bearer {api_key}"

    def __repr__(self) -> str:
        return "BearerInterceptorSync(<secret>)"  # never the key

    def on_start_sync(self, ctx: RequestContext[Any, Any]) -> None:
        ctx.request_headers["authorization"] = self._value

    def on_end_sync(self, token: None, ctx: RequestContext[Any, Any], error: Exception | None) -> None:
        return None


class BearerInterceptor:
    """Adds ``Authorization: Bearer <key>`` to every call of an asyncio client."""

    def __init__(self, api_key: str) -> None:
        self._value = f"Bearer {api_key}"

    def __repr__(self) -> str:
        return "BearerInterceptor(<secret>)"

    async def on_start(self, ctx: RequestContext[Any, Any]) -> None:
        ctx.request_headers["authorization"] = self._value

    async def on_end(self, token: None, ctx: RequestContext[Any, Any], error: Exception | None) -> None:
        return None
