"""``statehousectl auth ...``: API keys (AuthService).

``create-key`` and ``rotate-key`` print the secret once (the daemon keeps only
its hash); the other commands never see one. Every command but ``whoami`` needs a
key with admin on ``*`` (``--api-key`` or ``STATEHOUSE_API_KEY``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click

from .._errors import translate_errors
from .._gen.statehouse.v1 import auth_pb2 as pb
from .._gen.statehouse.v1.auth_connect import AuthServiceClientSync
from ._retention import parse_duration_ms

__all__ = ["auth"]

_ROLES = {"read": pb.ROLE_READ, "write": pb.ROLE_WRITE, "admin": pb.ROLE_ADMIN}
_ROLE_NAMES = {value: name for name, value in _ROLES.items()}


@dataclass
class _Auth:
    stub: AuthServiceClientSync
    address: str
    timeout_ms: int | None


def _service() -> _Auth:
    """AuthService over the command's client connection (its key and TLS)."""
    client = click.get_current_context().obj.client
    return _Auth(client._service_stub(AuthServiceClientSync), client._address, client._calls.timeout_ms)


def _time(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _key(info: pb.ApiKeyInfo) -> dict[str, Any]:
    def optional(field: str) -> int | None:
        return int(getattr(info, field)) if info.HasField(field) else None

    return {
        "key_id": info.key_id,
        "name": info.name,
        "grants": [
            {"namespace": g.namespace_pattern, "role": _ROLE_NAMES.get(g.role, "unspecified")} for g in info.grants
        ],
        "created_at": _time(info.created_at_ms),
        "revoked_at": _time(optional("revoked_at_ms")),
        "rotated_at": _time(optional("rotated_at_ms")),
        "expires_at": _time(optional("expires_at_ms")),
    }


def _grants(key: dict[str, Any]) -> str:
    return ", ".join(f"{g['role']} on {g['namespace']}" for g in key["grants"]) or "no grants"


def _status(key: dict[str, Any]) -> str:
    if key["revoked_at"] is not None:
        return f"revoked {key['revoked_at']}"
    if key["expires_at"] is not None:
        return f"expires {key['expires_at']}"
    return "active"


def _echo_secret(key: dict[str, Any], secret: str, as_json: bool, verb: str) -> None:
    if as_json:
        click.echo(json.dumps({"key": key, "secret": secret}))
        return
    name = f" ({key['name']})" if key["name"] else ""
    click.echo(click.style(f"✓ {verb} key {key['key_id']}{name}: {_grants(key)}", fg="green"), err=True)
    click.echo("The secret, shown this once (the daemon keeps only its hash):", err=True)
    click.echo(secret)  # alone on stdout, so KEY=$(statehousectl auth create-key ...) keeps just it


@click.group()
def auth() -> None:
    """API keys: create, list, revoke, rotate; who am I"""


@auth.command("create-key")
@click.option("--namespace", "namespaces", multiple=True, required=True, help="Namespace or pattern (team-*, *).")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(sorted(_ROLES)),
    help="Role on the --namespace at the same position (one role for all: give it once).",
)
@click.option("--name", default="", help="A label shown in listings and audit lines.")
@click.option("--expires-in", default=None, metavar="DURATION", help="Expire after this long (90d, 12h, ...).")
@click.option("--json", "as_json", is_flag=True, help="Output as JSON (the key and its secret).")
def create_key(
    namespaces: tuple[str, ...], roles: tuple[str, ...], name: str, expires_in: str | None, as_json: bool
) -> None:
    """Create an API key and print its secret once"""
    if len(roles) != 1 and len(roles) != len(namespaces):
        raise click.UsageError("give one --role for all namespaces, or one --role per --namespace")
    pairs = zip(namespaces, roles * len(namespaces) if len(roles) == 1 else roles, strict=True)
    request = pb.CreateApiKeyRequest(
        name=name, grants=[pb.NamespaceGrant(namespace_pattern=ns, role=_ROLES[role]) for ns, role in pairs]
    )
    if expires_in is not None:
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        request.expires_at_ms = now_ms + parse_duration_ms(expires_in)
    svc = _service()
    with translate_errors(svc.address):
        response = svc.stub.create_api_key(request, timeout_ms=svc.timeout_ms)
    _echo_secret(_key(response.key), response.secret, as_json, "Created")


@auth.command("list-keys")
@click.option("--include-revoked", is_flag=True, help="Also list revoked keys.")
@click.option("--json", "as_json", is_flag=True, help="Output as JSON (a list).")
def list_keys(include_revoked: bool, as_json: bool) -> None:
    """List API keys (never their secrets)"""
    svc = _service()
    with translate_errors(svc.address):
        response = svc.stub.list_api_keys(
            pb.ListApiKeysRequest(include_revoked=include_revoked), timeout_ms=svc.timeout_ms
        )
    keys = [_key(info) for info in response.keys]
    if as_json:
        click.echo(json.dumps(keys))
        return
    if not keys:
        click.echo("No keys")
    for key in keys:
        name = f"  {key['name']}" if key["name"] else ""
        click.echo(f"{key['key_id']}{name}  {_grants(key)}  created {key['created_at']}  {_status(key)}")


@auth.command("revoke-key")
@click.argument("key_id")
@click.option("--json", "as_json", is_flag=True, help="Output as JSON.")
def revoke_key(key_id: str, as_json: bool) -> None:
    """Revoke a key: it stops working at its next call"""
    svc = _service()
    with translate_errors(svc.address):
        response = svc.stub.revoke_api_key(pb.RevokeApiKeyRequest(key_id=key_id), timeout_ms=svc.timeout_ms)
    key = _key(response.key)
    if as_json:
        click.echo(json.dumps(key))
    else:
        click.echo(click.style(f"✓ Revoked key {key['key_id']} ({_status(key)})", fg="green"))


@auth.command("rotate-key")
@click.argument("key_id")
@click.option(
    "--grace-period", default=None, metavar="DURATION", help="Keep the old secret working this long (default: none)."
)
@click.option("--json", "as_json", is_flag=True, help="Output as JSON (the key and its new secret).")
def rotate_key(key_id: str, grace_period: str | None, as_json: bool) -> None:
    """Give a key a new secret (same id and grants) and print it once"""
    grace_ms = 0 if grace_period is None else parse_duration_ms(grace_period)
    svc = _service()
    with translate_errors(svc.address):
        response = svc.stub.rotate_api_key(
            pb.RotateApiKeyRequest(key_id=key_id, grace_period_ms=grace_ms), timeout_ms=svc.timeout_ms
        )
    _echo_secret(_key(response.key), response.secret, as_json, "Rotated")


@auth.command()
@click.option("--json", "as_json", is_flag=True, help="Output as JSON.")
def whoami(as_json: bool) -> None:
    """Who the daemon takes this caller for, and its auth mode"""
    svc = _service()
    with translate_errors(svc.address):
        response = svc.stub.who_am_i(pb.WhoAmIRequest(), timeout_ms=svc.timeout_ms)
    key = _key(response.key) if response.HasField("key") else None
    if as_json:
        click.echo(json.dumps({"authenticated": response.authenticated, "auth_mode": response.auth_mode, "key": key}))
    elif key is not None:
        name = f" ({key['name']})" if key["name"] else ""
        click.echo(f"Key {key['key_id']}{name}: {_grants(key)} (auth {response.auth_mode})")
    else:
        click.echo(f"Not authenticated (auth {response.auth_mode})")
