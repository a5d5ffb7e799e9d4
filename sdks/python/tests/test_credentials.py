"""API keys on the client side: what is sent, where it comes from, how refusals are reported.

A small connect-python WSGI server (``_standin``) stands in for an authenticating daemon here
(it records the ``Authorization`` header and answers as the daemon's auth layer
does); the real daemon with ``--auth required`` and TLS is in ``test_auth_tls.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _standin import daemon_error, serve
from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext

from statehouse import (
    AsyncStatehouse,
    AuthenticationError,
    PermissionDeniedError,
    Statehouse,
    StatehouseError,
    TransactionError,
)
from statehouse._errors import from_connect_error
from statehouse._gen.statehouse.v1 import statehouse_pb2 as pb
from statehouse._gen.statehouse.v1.statehouse_connect import StatehouseServiceSync

KEY = "shk_abc123_s3cr3t-Value"


class AuthService(StatehouseServiceSync):
    """ListKeys answers anyone; GetState needs KEY; Transact is denied to KEY (a read-only key)."""

    def __init__(self) -> None:
        self.seen: list[str | None] = []

    def _check(self, ctx: RequestContext[Any, Any]) -> None:
        header = ctx.request_headers.get("authorization")
        self.seen.append(header)
        if header != f"Bearer {KEY}":
            raise daemon_error(Code.UNAUTHENTICATED, pb.UNAUTHENTICATED, "missing or invalid API key")

    def list_keys(self, request: pb.ListKeysRequest, ctx: RequestContext[Any, Any], /) -> pb.ListKeysResponse:
        self.seen.append(ctx.request_headers.get("authorization"))
        return pb.ListKeysResponse(keys=["k"])

    def get_state(self, request: pb.GetStateRequest, ctx: RequestContext[Any, Any], /) -> pb.GetStateResponse:
        self._check(ctx)
        return pb.GetStateResponse(exists=False)

    def transact(self, request: pb.TransactRequest, ctx: RequestContext[Any, Any], /) -> pb.TransactResponse:
        self._check(ctx)
        ns = request.operations[0].namespace
        raise daemon_error(
            Code.PERMISSION_DENIED, pb.PERMISSION_DENIED, f"write on {ns!r} needed", namespace=ns, role="write"
        )


@pytest.fixture
def auth_server() -> Iterator[tuple[str, AuthService]]:
    service = AuthService()
    with serve(service) as url:
        yield url, service


@pytest.fixture(autouse=True)
def _no_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATEHOUSE_API_KEY", raising=False)


def test_the_key_is_sent_as_a_bearer_token_on_every_call(auth_server: tuple[str, AuthService]) -> None:
    url, service = auth_server
    with Statehouse(url, protocol="connect", api_key=KEY) as client:
        assert client.list_keys("a") == ["k"]
        assert client.get_state("a", "k").exists is False
    assert service.seen == [f"Bearer {KEY}", f"Bearer {KEY}"]
    assert KEY not in repr(client)


def test_statehouse_api_key_from_the_environment(
    auth_server: tuple[str, AuthService], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, service = auth_server
    monkeypatch.setenv("STATEHOUSE_API_KEY", KEY)
    with Statehouse(url, protocol="connect") as client:
        client.get_state("a", "k")
    with Statehouse(url, protocol="connect", api_key="shk_other_key") as client, pytest.raises(AuthenticationError):
        client.get_state("a", "k")  # the argument wins over the environment
    assert service.seen == [f"Bearer {KEY}", "Bearer shk_other_key"]


def test_no_key_sends_no_header(auth_server: tuple[str, AuthService]) -> None:
    url, service = auth_server
    with Statehouse(url, protocol="connect") as client:
        assert client.list_keys("a") == ["k"]
        with pytest.raises(AuthenticationError) as info:
            client.get_state("a", "k")
    assert service.seen == [None, None]
    assert (info.value.code, str(info.value)) == ("UNAUTHENTICATED", "missing or invalid API key")
    assert not isinstance(info.value, TransactionError)


def test_a_missing_role_is_permission_denied_naming_namespace_and_role(auth_server: tuple[str, AuthService]) -> None:
    url, _ = auth_server
    with Statehouse(url, "team-b", protocol="connect", api_key=KEY) as client:
        with pytest.raises(PermissionDeniedError) as info, client.begin_transaction() as tx:
            tx.write("a", "k", {"v": 1})
        assert tx.aborted
        assert info.value.code == "PERMISSION_DENIED"
        assert info.value.details == {"namespace": "team-b", "role": "write"}
        with pytest.raises(PermissionDeniedError):  # not retried as if it were a conflict
            client.run_transaction(lambda t: t.write("a", "k", {"v": 1}), retries=3)


async def test_the_async_client_sends_the_key_and_maps_refusals(auth_server: tuple[str, AuthService]) -> None:
    url, service = auth_server
    async with AsyncStatehouse(url, protocol="connect", api_key=KEY) as client:
        assert (await client.get_state("a", "k")).exists is False
        with pytest.raises(PermissionDeniedError):
            async with client.begin_transaction() as tx:
                tx.write("a", "k", {"v": 1})
    async with AsyncStatehouse(url, protocol="connect") as client:
        with pytest.raises(AuthenticationError):
            await client.get_state("a", "k")
    assert service.seen == [f"Bearer {KEY}", f"Bearer {KEY}", None]


@pytest.mark.parametrize(
    ("status", "cls", "code"),
    [
        (Code.UNAUTHENTICATED, AuthenticationError, "UNAUTHENTICATED"),
        (Code.PERMISSION_DENIED, PermissionDeniedError, "PERMISSION_DENIED"),
    ],
)
def test_a_refusal_without_the_detail_maps_by_status(status: Code, cls: type[StatehouseError], code: str) -> None:
    """A proxy in front of the daemon answers without the StatehouseError detail."""
    for transactional in (False, True):
        err = from_connect_error(ConnectError(status, "no"), address="http://h:1", transactional=transactional)
        assert type(err) is cls
        assert err.code == code


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"api_key": ""}, "printable ASCII"),
        ({"api_key": "shk_a b"}, "printable ASCII"),
        ({"api_key": "shk_a\nInjected: header"}, "printable ASCII"),
        ({"api_key": "x" * 4097}, "1 to 4096"),
        ({"ca_cert": "ca.pem"}, "need an https:// url"),
    ],
)
def test_bad_credentials_are_refused_at_construction(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Statehouse("127.0.0.1:1", **kwargs)


def test_a_key_that_is_not_a_str_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="api_key must be a str"):
        Statehouse("127.0.0.1:1", api_key=b"shk_x")  # type: ignore[arg-type]


def test_tls_files_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("hello")
    with pytest.raises(ValueError, match="is not a PEM file"):
        Statehouse("https://127.0.0.1:1", ca_cert=not_pem)
    with pytest.raises(ValueError, match="cannot read"):
        Statehouse("https://127.0.0.1:1", ca_cert=tmp_path / "missing.pem")
    with pytest.raises(ValueError, match="go together"):
        Statehouse("https://127.0.0.1:1", client_cert=not_pem)
    monkeypatch.setenv("STATEHOUSE_API_KEY", "bad key")
    with pytest.raises(ValueError, match="STATEHOUSE_API_KEY must be"):
        Statehouse("127.0.0.1:1")
