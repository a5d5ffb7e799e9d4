"""``statehousectl``: inspect a Statehouse daemon from the shell.

Every command exits non-zero with a one-line ``Error: ...`` on failure; pass
``--debug`` for the traceback. The daemon address comes from ``--address``,
else ``STATEHOUSE_ADDRESS``, else ``localhost:50051``.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn, TypeVar

import click

from . import __version__
from ._client import Statehouse
from ._errors import NotFoundError, StatehouseError
from ._format import format_event_lines
from ._types import ReplayEvent, StateResult

__all__ = ["cli", "main"]

T = TypeVar("T")


@dataclass
class _Options:
    address: str
    timeout: float | None
    debug: bool
    _client: Statehouse | None = field(default=None, repr=False)

    @property
    def client(self) -> Statehouse:
        if self._client is None:
            self._client = Statehouse(url=self.address, timeout=self.timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _Group(click.Group):
    """Turns failures into one line on stderr and exit status 1 (tracebacks only with ``--debug``)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as err:
            if isinstance(ctx.obj, _Options) and ctx.obj.debug:
                raise
            if isinstance(err, StatehouseError):
                raise click.ClickException(_one_line(f"{err} [{err.code}]")) from err
            raise click.ClickException(_one_line(f"{type(err).__name__}: {err}")) from err


def _opts() -> _Options:
    opts = click.get_current_context().find_object(_Options)
    assert opts is not None
    return opts


def _json(value: Any, *, pretty: bool = False) -> str:
    if pretty:
        return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


namespace_option = click.option("--namespace", default=None, help="Namespace (default: the client's, 'default').")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--address",
    envvar="STATEHOUSE_ADDRESS",
    default="localhost:50051",
    show_default=True,
    help="Daemon address, host:port or http://host:port (env STATEHOUSE_ADDRESS).",
)
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for each call.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.version_option(__version__, "--client-version", prog_name="statehousectl", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, address: str, timeout: float, debug: bool) -> None:
    """Inspect and query a Statehouse daemon."""
    opts = _Options(address=address, timeout=timeout, debug=debug)
    ctx.obj = opts
    ctx.call_on_close(opts.close)


@cli.command()
def health() -> None:
    """Check that the daemon serves (exit 0 when it answers "ok")."""
    status = _opts().client.health()
    click.echo(status)
    if status != "ok":
        sys.exit(1)


@cli.command()
def version() -> None:
    """Print the daemon's version and git sha."""
    daemon_version, git_sha = _opts().client.version()
    click.echo(f"version: {daemon_version}")
    click.echo(f"git_sha: {git_sha}")


def _state_dict(result: StateResult, agent_id: str, namespace: str) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "agent_id": agent_id,
        "key": result.key,
        "exists": result.exists,
        "version": result.version,
        "commit_ts": result.commit_ts,
        "value": result.value,
    }


@cli.command()
@click.argument("agent_id")
@click.argument("key")
@namespace_option
@click.option("--pretty", is_flag=True, help="Indent the JSON.")
@click.option("--json-output", is_flag=True, help="Print one JSON object (key, version, commit_ts, value...).")
def get(agent_id: str, key: str, namespace: str | None, pretty: bool, json_output: bool) -> None:
    """Print the current value of KEY of AGENT_ID (exit 1 if it does not exist)."""
    client = _opts().client
    result = client.get_state(agent_id, key, namespace=namespace)
    if not result.exists:
        what = f"deleted at version {result.version}" if result.version else "never written"
        raise NotFoundError(f"key {key!r} of agent {agent_id!r} does not exist ({what})", code="KEY_NOT_FOUND")
    if json_output:
        click.echo(_json(_state_dict(result, agent_id, namespace or client.namespace), pretty=pretty))
        return
    click.echo(f"key:       {key}")
    click.echo(f"version:   {result.version}")
    click.echo(f"commit_ts: {result.commit_ts}")
    click.echo(f"value:     {_json(result.value, pretty=pretty)}")


@cli.command()
@click.argument("agent_id")
@namespace_option
@click.option("--prefix", default="", help="Only keys starting with this.")
def keys(agent_id: str, namespace: str | None, prefix: str) -> None:
    """List the existing keys of AGENT_ID, one per line, in key order."""
    # Paged, prefix filtered by the daemon: printed as the pages arrive.
    for name in _opts().client.iter_keys(agent_id, namespace=namespace, prefix=prefix):
        click.echo(name)


def _echo_events(events: Iterable[ReplayEvent], *, as_json: bool, verbose: bool) -> None:
    for event in events:
        if as_json:
            click.echo(_json(event.to_dict()))
        else:
            for line in format_event_lines(event, verbose=verbose):
                click.echo(line)
        sys.stdout.flush()


def _limited(events: Iterator[ReplayEvent], limit: int | None) -> Iterator[ReplayEvent]:
    for count, event in enumerate(events):
        if limit is not None and count >= limit:
            return
        yield event


@cli.command()
@click.argument("agent_id")
@namespace_option
@click.option("--start-ts", type=click.IntRange(min=0), default=None, help="First commit_ts (inclusive).")
@click.option("--end-ts", type=click.IntRange(min=0), default=None, help="Last commit_ts (inclusive).")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most this many events.")
@click.option("--verbose", "-v", is_flag=True, help="Add txn= and the payload to each line.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event (JSON Lines).")
def replay(
    agent_id: str,
    namespace: str | None,
    start_ts: int | None,
    end_ts: int | None,
    limit: int | None,
    verbose: bool,
    as_json: bool,
) -> None:
    """Print the committed events of AGENT_ID in commit order, one line per operation."""
    server_limit = limit or None  # --limit 0 prints nothing; the daemon reads no more than asked
    events = _opts().client.replay(agent_id, start_ts, end_ts, namespace=namespace, limit=server_limit)
    _echo_events(_limited(events, limit), as_json=as_json, verbose=verbose)


@cli.command()
@click.argument("agent_id")
@namespace_option
@click.option("-n", "count", type=click.IntRange(min=0), default=10, show_default=True, help="Number of events.")
@click.option("--follow", "-f", is_flag=True, help="Then print new commits as they happen (until Ctrl-C).")
@click.option("--verbose", "-v", is_flag=True, help="Add txn= and the payload to each line.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event (JSON Lines).")
def tail(agent_id: str, namespace: str | None, count: int, follow: bool, verbose: bool, as_json: bool) -> None:
    """Print the last N events of AGENT_ID; with --follow, keep printing new ones."""
    client = _opts().client
    start: int | None = None  # -n 0: only what commits from now on
    if count:
        # Only the last N events, read from the end of the agent's history.
        last = client.last_events(agent_id, count, namespace=namespace)
        _echo_events(last, as_json=as_json, verbose=verbose)
        start = last[-1].commit_ts + 1 if last else 1
    if not follow:
        return
    try:
        _echo_events(
            _interruptible(client.watch(agent_id, start, namespace=namespace)), as_json=as_json, verbose=verbose
        )
    except KeyboardInterrupt:
        return


def _interruptible(items: Iterator[T]) -> Iterator[T]:
    """Iterates in a helper thread so that Ctrl-C reaches the main thread at once.

    A read blocked inside the HTTP client would otherwise hold the signal until
    the next message arrives.
    """
    handoff: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=64)

    def pump() -> None:
        try:
            for item in items:
                handoff.put((True, item))
            handoff.put((False, None))
        except BaseException as err:  # handed to the main thread, which raises it
            handoff.put((False, err))

    threading.Thread(target=pump, name="statehousectl-follow", daemon=True).start()
    while True:
        try:
            is_item, value = handoff.get(timeout=0.2)
        except queue.Empty:
            continue
        if is_item:
            yield value
        elif value is None:
            return
        else:
            raise value


@contextmanager
def _output(path: Path | None) -> Iterator[IO[str]]:
    """stdout, or a file written atomically (a temp file renamed into place on success)."""
    if path is None:
        yield sys.stdout
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            yield out
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _stderr_is_tty() -> bool:
    return sys.stderr.isatty()


def _progress(entries: list[StateResult], label: str) -> Any:
    """A progress bar on stderr when it is a terminal, else a silent pass-through."""
    return click.progressbar(entries, label=label, file=sys.stderr, hidden=not _stderr_is_tty())


@cli.command()
@click.argument("agent_id")
@namespace_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write to FILE.")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True)
def dump(agent_id: str, namespace: str | None, output: Path | None, fmt: str) -> None:
    """Write every existing key of AGENT_ID with its value, version and commit_ts (one consistent read)."""
    client = _opts().client
    ns = namespace or client.namespace
    # One consistent view, read in pages: the agent's state as of its last commit (history
    # does not change, so later commits cannot mix into the pages).
    last = client.last_events(agent_id, 1, namespace=ns)
    entries = client.get_agent_state_as_of(agent_id, last[0].commit_ts, namespace=ns) if last else []
    with _output(output) as out, _progress(entries, f"dumping {len(entries)} keys") as bar:
        if fmt == "json":
            out.write(f'{{"namespace": {_json(ns)}, "agent_id": {_json(agent_id)}, "state": {{')
            for i, entry in enumerate(bar):
                record = {"value": entry.value, "version": entry.version, "commit_ts": entry.commit_ts}
                out.write(f"{',' if i else ''}\n  {_json(entry.key)}: {_json(record)}")
            out.write("\n}}\n" if entries else "}}\n")
        else:
            for entry in bar:
                out.write(f"{entry.key}\tv={entry.version}\tcommit_ts={entry.commit_ts}\t{_json(entry.value)}\n")
    if output is not None:
        click.echo(f"wrote {len(entries)} keys of agent {agent_id!r} to {output}", err=True)


@cli.command()
@click.argument("agent_id")
@namespace_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def inspect(agent_id: str, namespace: str | None, as_json: bool) -> None:
    """Summarize AGENT_ID: keys, sizes, versions and its event history."""
    client = _opts().client
    ns = namespace or client.namespace
    entries = client.scan_prefix(agent_id, "", namespace=ns)
    events = writes = deletes = 0
    first: ReplayEvent | None = None
    last: ReplayEvent | None = None
    for event in client.replay(agent_id, namespace=ns):
        events += 1
        first = first or event
        last = event
        deletes += sum(1 for op in event.operations if op.value is None)
        writes += sum(1 for op in event.operations if op.value is not None)
    sizes = {entry.key or "": len(_json(entry.value).encode()) for entry in entries}
    summary: dict[str, Any] = {
        "namespace": ns,
        "agent_id": agent_id,
        "keys": len(entries),
        "bytes": sum(sizes.values()),
        "events": events,
        "writes": writes,
        "deletes": deletes,
        "first": _event_ref(first),
        "last": _event_ref(last),
        "records": [
            {"key": e.key, "version": e.version, "commit_ts": e.commit_ts, "bytes": sizes[e.key or ""]} for e in entries
        ],
    }
    if as_json:
        click.echo(_json(summary, pretty=True))
        return
    click.echo(f"namespace: {ns}")
    click.echo(f"agent:     {agent_id}")
    click.echo(f"keys:      {len(entries)} ({summary['bytes']} bytes of JSON)")
    click.echo(f"events:    {events} ({writes} writes, {deletes} deletes)")
    for name in ("first", "last"):
        ref = summary[name]
        if ref is not None:
            click.echo(f"{name + ':':<10} commit_ts={ref['commit_ts']} at {ref['committed_at'] or '?'}")
    if entries:
        width = min(48, max(len("KEY"), *(len(k) for k in sizes)))
        click.echo(f"\n{'KEY':<{width}}  {'VERSION':>7}  {'COMMIT_TS':>9}  {'BYTES':>7}")
        for entry in entries:
            name = entry.key or ""
            shown = name if len(name) <= width else name[: width - 3] + "..."
            click.echo(f"{shown:<{width}}  {entry.version:>7}  {entry.commit_ts:>9}  {sizes[name]:>7}")


def _event_ref(event: ReplayEvent | None) -> dict[str, Any] | None:
    if event is None:
        return None
    return {"commit_ts": event.commit_ts, "committed_at": event.to_dict()["committed_at"], "txn_id": event.txn_id}


def main() -> NoReturn:
    """The ``statehousectl`` console script."""
    try:
        cli.main(prog_name="statehousectl")
    except BrokenPipeError:
        # Output piped into e.g. `head` that exited: stop quietly, like other CLI tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    sys.exit(0)  # cli.main exits by itself; kept for the type checker
