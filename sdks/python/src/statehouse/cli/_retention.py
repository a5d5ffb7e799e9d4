"""``statehousectl retention ...`` and ``statehousectl horizon``: history retention (RetentionService)."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Any

import click

from .._errors import translate_errors
from .._gen.statehouse.v1 import retention_pb2 as pb
from .._gen.statehouse.v1.retention_connect import RetentionServiceClientSync

__all__ = ["horizon", "parse_duration_ms", "purge", "retention"]

_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration_ms(text: str) -> int:
    """``90d``, ``12h``, ``30m``, ``45s``, ``500ms`` -> milliseconds (> 0)."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)", text.strip().lower())
    if match is None or int(match.group(1)) == 0:
        raise click.BadParameter(f"expected a positive duration such as 90d, 12h, 30m, 45s, 500ms, got {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _format_ms(ms: int) -> str:
    for unit in ("d", "h", "m", "s"):
        if ms % _UNITS[unit] == 0:
            return f"{ms // _UNITS[unit]}{unit}"
    return f"{ms}ms"


@dataclass
class _Retention:
    stub: RetentionServiceClientSync
    address: str
    timeout_ms: int | None
    namespace: str


def _service() -> _Retention:
    """The RetentionService over the command's client connection (``ctx.obj`` is the CLI's options)."""
    opts = click.get_current_context().obj
    client = opts.client
    stub = client._service_stub(RetentionServiceClientSync)  # the client's key and TLS too
    return _Retention(stub, client._address, client._calls.timeout_ms, opts.namespace or client.namespace)


def _info(info: pb.RetentionInfo) -> dict[str, Any]:
    keep: str | None = None
    versions: int | None = None
    if info.policy.kind == pb.RETENTION_KIND_KEEP_DURATION:
        keep = _format_ms(info.policy.keep_duration_ms)
    if info.policy.kind == pb.RETENTION_KIND_KEEP_VERSIONS:
        versions = info.policy.keep_versions
    policy = "all" if keep is None else f"keep {keep}"
    if versions is not None:
        policy = f"keep the last {versions} versions per key"
    return {
        "namespace": info.namespace or None,
        "policy": policy,
        "keep_duration_ms": info.policy.keep_duration_ms if keep is not None else None,
        "keep_versions": versions,
        "explicit": info.explicit,
        "horizon_commit_ts": info.horizon_commit_ts,
    }


def _echo(infos: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(infos[0]))
        return
    for info in infos:
        name = info["namespace"] if info["namespace"] is not None else "(default)"
        origin = "" if info["explicit"] else " (the default's)"
        click.echo(f"{name}: {info['policy']}{origin}, horizon commit_ts {info['horizon_commit_ts']}")


@click.group()
def retention() -> None:
    """History retention: policies, horizons, compaction"""


@retention.command("show")
@click.option("--namespace", default=None, help="Namespace (default: the default policy).")
@click.option("--json", "as_json", is_flag=True, help="Output as JSON.")
def show(namespace: str | None, as_json: bool) -> None:
    """Show the policy that governs a namespace, and its horizon"""
    svc = _service()
    with translate_errors(svc.address):
        response = svc.stub.get_retention_policy(
            pb.GetRetentionPolicyRequest(namespace=namespace or ""), timeout_ms=svc.timeout_ms
        )
    _echo([_info(response.retention)], as_json)


@retention.command("list")
@click.option("--json", "as_json", is_flag=True, help="Output as JSON.")
def list_policies(as_json: bool) -> None:
    """List the default and every namespace with its own policy"""
    svc = _service()
    with translate_errors(svc.address):
        response = svc.stub.list_retention_policies(pb.ListRetentionPoliciesRequest(), timeout_ms=svc.timeout_ms)
    infos = [_info(info) for info in response.retention]
    if as_json:
        click.echo(json.dumps(infos))
    else:
        for info in infos:
            _echo([info], False)


@retention.command("set")
@click.option("--namespace", default=None, help="Namespace (omit for the default policy).")
@click.option("--keep", "keep", default=None, metavar="DURATION", help="Keep this much history (90d, 12h, ...).")
@click.option(
    "--keep-versions",
    "keep_versions",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Keep the last N versions of each key (older versions are compacted; the event log stays).",
)
@click.option("--keep-all", "keep_all", is_flag=True, help="Keep all history (the default).")
@click.option("--json", "as_json", is_flag=True, help="Output as JSON.")
def set_policy(
    namespace: str | None, keep: str | None, keep_versions: int | None, keep_all: bool, as_json: bool
) -> None:
    """Set a namespace's (or the default) retention policy"""
    if [keep is not None, keep_versions is not None, keep_all].count(True) != 1:
        raise click.UsageError("give exactly one of --keep DURATION, --keep-versions N and --keep-all")
    if keep_all:
        policy = pb.RetentionPolicy(kind=pb.RETENTION_KIND_KEEP_ALL)
    elif keep_versions is not None:
        policy = pb.RetentionPolicy(kind=pb.RETENTION_KIND_KEEP_VERSIONS, keep_versions=keep_versions)
    else:
        policy = pb.RetentionPolicy(
            kind=pb.RETENTION_KIND_KEEP_DURATION, keep_duration_ms=parse_duration_ms(keep or "")
        )
    svc = _service()
    with translate_errors(svc.address):
        response = svc.stub.set_retention_policy(
            pb.SetRetentionPolicyRequest(namespace=namespace or "", policy=policy), timeout_ms=svc.timeout_ms
        )
    _echo([_info(response.retention)], as_json)


@retention.command("compact")
@click.option("--json", "as_json", is_flag=True, help="Output as JSON.")
def compact(as_json: bool) -> None:
    """Compact history behind the horizons now (it also runs in the background)"""
    svc = _service()
    with translate_errors(svc.address):
        response = svc.stub.compact_history(pb.CompactHistoryRequest(), timeout_ms=svc.timeout_ms)
    if as_json:
        click.echo(json.dumps({"events_compacted": response.events_compacted}))
    else:
        click.echo(f"Compacted {response.events_compacted} events")


@click.command()
@click.option("--namespace", default=None, help="Namespace (default: default).")
@click.option("--json", "as_json", is_flag=True, help="Output as JSON.")
def horizon(namespace: str | None, as_json: bool) -> None:
    """Show a namespace's history horizon: history up to it may be compacted"""
    svc = _service()
    with translate_errors(svc.address):
        response = svc.stub.get_horizon(
            pb.GetHorizonRequest(namespace=namespace or svc.namespace), timeout_ms=svc.timeout_ms
        )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "namespace": response.namespace,
                    "horizon_commit_ts": response.horizon_commit_ts,
                    "commit_ts": response.commit_ts,
                }
            )
        )
    else:
        current = f"current commit_ts {response.commit_ts}"
        click.echo(f"{response.namespace}: horizon commit_ts {response.horizon_commit_ts} ({current})")


@click.command()
@click.option("--namespace", required=True, help="Namespace to purge (or whose agent to purge); never implied.")
@click.option("--agent", "agent_id", default=None, help="Purge only this agent (default: the whole namespace).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation on a terminal.")
@click.option("--json", "as_json", is_flag=True, help="Output as JSON.")
def purge(namespace: str, agent_id: str | None, yes: bool, as_json: bool) -> None:
    """Erase an agent or a whole namespace: state, history, indexes, idempotency keys"""
    what = f"agent '{agent_id}' of namespace '{namespace}'" if agent_id is not None else f"namespace '{namespace}'"
    if not yes and sys.stdin.isatty():
        click.confirm(f"Erase {what} for good?", abort=True, err=True)
    svc = _service()
    request = pb.PurgeRequest(namespace=namespace)
    if agent_id is not None:
        request.agent_id = agent_id
    with translate_errors(svc.address):
        response = svc.stub.purge(request, timeout_ms=None)  # as long as it takes: it is durable and resumable
    if as_json:
        result = {
            "purge_id": response.purge_id,
            "events_rewritten": response.events_rewritten,
            "entries_deleted": response.entries_deleted,
        }
        click.echo(json.dumps(result))
    else:
        click.echo(
            f"✓ Purged {what}: {response.events_rewritten} events rewritten, "
            f"{response.entries_deleted} entries deleted (purge {response.purge_id})"
        )
