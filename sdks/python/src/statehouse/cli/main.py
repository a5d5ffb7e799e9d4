"""``statehousectl``: inspect a Statehouse daemon from the shell.

The commands, options and output are the original ``statehousectl``'s (see the
package README); the one deliberate difference is that failures go to stderr
(``✗ Error: ...``, exit 1; ``--debug`` for the traceback) instead of stdout. Our
additions: ``--json`` on every command, ``tail --follow`` and ``--verbose``, the
``--timeout``/``--debug``/``--namespace`` global options, ``auth`` (API keys) and
``--api-key``/``--ca-cert``/``--client-cert``/``--client-key``. The daemon address comes
from ``--address``, else ``STATEHOUSE_ADDRESS`` (or ``STATEHOUSE_ADDR``), else
``localhost:50051``; the key from ``--api-key``, else ``STATEHOUSE_API_KEY``.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn, TypeVar

import click

from .. import __version__
from .._client import Statehouse
from .._errors import StatehouseError
from .._format import format_event_lines
from .._types import ReplayEvent, StateResult
from ..formatting import format_event_json, format_ts, format_value_summary
from ._auth import auth
from ._backup import BackupProgress, IncompleteBackup, write_backup
from ._retention import horizon, purge, retention

__all__ = ["cli", "main"]

T = TypeVar("T")


@dataclass
class _Options:
    address: str
    namespace: str | None
    timeout: float | None
    debug: bool
    api_key: str | None = field(default=None, repr=False)
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    _client: Statehouse | None = field(default=None, repr=False)

    @property
    def client(self) -> Statehouse:
        if self._client is None:
            self._client = Statehouse(
                url=self.address,
                timeout=self.timeout,
                api_key=self.api_key,
                ca_cert=self.ca_cert,
                client_cert=self.client_cert,
                client_key=self.client_key,
            )
        return self._client

    def ns(self, namespace: str | None) -> str:
        """The command's --namespace, else the global one, else ``default``."""
        return namespace or self.namespace or self.client.namespace

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _Failure(click.ClickException):
    """Printed as it is (``✗ ...``), in color on a terminal, on stderr; exit status 1."""

    def __init__(self, message: str, color: str = "red") -> None:
        super().__init__(message)
        self.color = color

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(click.style(self.message, fg=self.color), err=True)


class _Group(click.Group):
    """Turns failures into one ``✗ Error: ...`` line on stderr and exit status 1 (tracebacks only with ``--debug``)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as err:
            if isinstance(ctx.obj, _Options) and ctx.obj.debug:
                raise
            if isinstance(err, StatehouseError):
                raise _Failure(_one_line(f"✗ Error: {err} [{err.code}]")) from err
            raise _Failure(_one_line(f"✗ Error: {type(err).__name__}: {err}")) from err


def _opts() -> _Options:
    opts = click.get_current_context().find_object(_Options)
    assert opts is not None
    return opts


def _json(value: Any, *, indent: int | None = None) -> str:
    """JSON as the original printed it (``json.dumps`` defaults, ASCII-escaped)."""
    return json.dumps(value, indent=indent)


namespace_option = click.option("--namespace", default=None, help="Namespace (default: default).")
json_option = click.option("--json", "as_json", is_flag=True, help="Output as JSON.")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--address",
    envvar=["STATEHOUSE_ADDRESS", "STATEHOUSE_ADDR"],
    default="localhost:50051",
    show_default=True,
    help=(
        "Statehouse daemon address, host:port or http://host:port; several daemons of a cluster"
        " separated by commas (env STATEHOUSE_ADDRESS)."
    ),
)
@click.option("--namespace", "global_namespace", default=None, help="Namespace of every command (default: default).")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for each call.")
@click.option("--api-key", envvar="STATEHOUSE_API_KEY", default=None, help="API key to send (env STATEHOUSE_API_KEY).")
@click.option(
    "--ca-cert",
    envvar="STATEHOUSE_CA_CERT",
    default=None,
    type=click.Path(dir_okay=False),
    help="PEM CA bundle trusted for an https:// address instead of the system CAs (env STATEHOUSE_CA_CERT).",
)
@click.option("--client-cert", default=None, type=click.Path(dir_okay=False), help="PEM client certificate (mTLS).")
@click.option("--client-key", default=None, type=click.Path(dir_okay=False), help="PEM key of --client-cert.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.version_option(__version__, "--client-version", prog_name="statehousectl", message="%(prog)s %(version)s")
@click.pass_context
def cli(
    ctx: click.Context,
    address: str,
    global_namespace: str | None,
    timeout: float,
    api_key: str | None,
    ca_cert: str | None,
    client_cert: str | None,
    client_key: str | None,
    debug: bool,
) -> None:
    """Statehouse CLI - interact with the Statehouse daemon"""
    opts = _Options(
        address=address,
        namespace=global_namespace,
        timeout=timeout,
        debug=debug,
        api_key=api_key or None,
        ca_cert=ca_cert,
        client_cert=client_cert,
        client_key=client_key,
    )
    ctx.obj = opts
    ctx.call_on_close(opts.close)


@cli.command()
@json_option
def health(as_json: bool) -> None:
    """Check daemon health status"""
    opts = _opts()
    try:
        status = opts.client.health()
    except Exception as err:
        if opts.debug:
            raise
        raise _Failure(_one_line(f"✗ Connection failed: {err}")) from err
    if as_json:
        click.echo(_json({"status": status}))
        if status != "ok":
            sys.exit(1)
    elif status == "ok":
        click.echo(click.style("✓ Daemon is healthy", fg="green"))
    else:
        raise _Failure(f"✗ Daemon returned: {status}", color="yellow")


@cli.command()
@json_option
def version(as_json: bool) -> None:
    """Get daemon version"""
    daemon_version, git_sha = _opts().client.version()
    if as_json:
        click.echo(_json({"version": daemon_version, "git_sha": git_sha}))
        return
    click.echo(f"Version: {daemon_version}")
    click.echo(f"Git SHA: {git_sha}")


def _committed_at(client: Statehouse, agent_id: str, result: StateResult, namespace: str) -> ReplayEvent | None:
    """The event that wrote ``result`` (it carries the wall-clock commit time)."""
    events = list(client.replay(agent_id, result.commit_ts, result.commit_ts, namespace=namespace, limit=1))
    return events[0] if events else None


@cli.command()
@click.argument("agent_id")
@click.argument("key")
@namespace_option
@click.option("--json-output", "--json", "output_json", is_flag=True, help="Output as JSON")
@click.option("--pretty", is_flag=True, help="Pretty-print the value")
def get(agent_id: str, key: str, namespace: str | None, output_json: bool, pretty: bool) -> None:
    """Get state value for agent_id and key"""
    opts = _opts()
    ns = opts.ns(namespace)
    result = opts.client.get_state(agent_id, key, namespace=ns)
    if not result.exists or result.value is None:
        raise _Failure("✗ Key not found", color="yellow")
    if output_json:
        record = {"key": key, "version": result.version, "commit_ts": result.commit_ts, "value": result.value}
        click.echo(_json(record, indent=2))
    elif pretty:
        event = _committed_at(opts.client, agent_id, result, ns)
        click.echo(f"Key:       {key}")
        click.echo(f"Version:   {result.version}")
        click.echo(f"Timestamp: {format_ts(event.committed_at if event else None)}")
        click.echo(f"\nValue: {format_value_summary(result.value, max_len=200)}")
    else:
        click.echo(f"Key:       {key}")
        click.echo(f"Version:   {result.version}")
        click.echo(f"Commit TS: {result.commit_ts}")
        click.echo("\nValue:")
        click.echo(_json(result.value, indent=2))


@cli.command()
@click.argument("agent_id")
@namespace_option
@click.option("--prefix", default="", help="Filter keys by prefix")
@json_option
def keys(agent_id: str, namespace: str | None, prefix: str, as_json: bool) -> None:
    """List keys for an agent"""
    opts = _opts()
    ns = opts.ns(namespace)
    # Paged, prefix filtered by the daemon: printed as the pages arrive.
    names = opts.client.iter_keys(agent_id, namespace=ns, prefix=prefix)
    if as_json:
        found = list(names)
        click.echo(_json({"namespace": ns, "agent_id": agent_id, "count": len(found), "keys": found}, indent=2))
        return
    count = 0
    for name in names:
        if not count:
            click.echo(f"Keys for agent '{agent_id}' (namespace: {ns}):")
        click.echo(f"  - {name}")
        count += 1
    click.echo(f"\nTotal: {count}" if count else f"No keys found for agent '{agent_id}'")


def _entries(events: Iterable[ReplayEvent], *, verbose: bool) -> Iterator[str]:
    """The pretty (or verbose) entries of the events: one per operation."""
    for event in events:
        yield from format_event_lines(event, verbose=verbose)


class _Printer:
    """Prints events as JSON Lines or as pretty entries (verbose ones separated by a blank line)."""

    def __init__(self, *, as_json: bool, verbose: bool) -> None:
        self.as_json = as_json
        self.verbose = verbose
        self.count = 0

    def events(self, events: Iterable[ReplayEvent]) -> None:
        for event in events:
            if self.as_json:
                self.line(format_event_json(event.to_dict()))
            else:
                self.entries(format_event_lines(event, verbose=self.verbose))

    def entries(self, entries: Iterable[str]) -> None:
        for entry in entries:
            self.line(entry)

    def line(self, text: str) -> None:
        if self.verbose and self.count and not self.as_json:
            click.echo()
        click.echo(text)
        sys.stdout.flush()
        self.count += 1

    def none_found(self, agent_id: str) -> None:
        """The original's note for an empty result; on stderr with --json, so stdout stays JSON Lines."""
        click.echo(f"No events found for agent '{agent_id}'", err=self.as_json)


def _first(items: Iterable[T], limit: int | None) -> Iterator[T]:
    for count, item in enumerate(items):
        if limit is not None and count >= limit:
            return
        yield item


@cli.command()
@click.argument("agent_id")
@namespace_option
@click.option("--start-ts", type=click.IntRange(min=0), default=None, help="Start timestamp")
@click.option("--end-ts", type=click.IntRange(min=0), default=None, help="End timestamp")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="Limit number of events")
@click.option("--verbose", "-v", is_flag=True, help="Show full details (txn_id, event_id, payload)")
@click.option("--json", "as_json", is_flag=True, help="Output as JSON lines")
def replay(
    agent_id: str,
    namespace: str | None,
    start_ts: int | None,
    end_ts: int | None,
    limit: int | None,
    verbose: bool,
    as_json: bool,
) -> None:
    """Replay events for an agent (pretty format by default)"""
    opts = _opts()
    limit = limit or None  # as in the original, --limit 0 sets no limit
    # --limit counts events with --json, else printed operations; N events hold at least N
    # operations, so the daemon reads no more than N events either way.
    events = opts.client.replay(agent_id, start_ts, end_ts, namespace=opts.ns(namespace), limit=limit)
    printer = _Printer(as_json=as_json, verbose=verbose)
    if as_json:
        printer.events(_first(events, limit))
    else:
        printer.entries(_first(_entries(events, verbose=verbose), limit))
    if printer.count == 0:
        printer.none_found(agent_id)


@cli.command()
@click.argument("agent_id")
@namespace_option
@click.option("--lines", "-n", "count", type=click.IntRange(min=0), default=10, help="Number of recent events to show")
@click.option("--follow", "-f", is_flag=True, help="Then print new commits as they happen (until Ctrl-C).")
@click.option("--verbose", "-v", is_flag=True, help="Show full details (txn_id, event_id, payload)")
@click.option("--json", "as_json", is_flag=True, help="Output as JSON lines (one event per line)")
def tail(agent_id: str, namespace: str | None, count: int, follow: bool, verbose: bool, as_json: bool) -> None:
    """Show recent events using pretty replay format"""
    opts = _opts()
    client = opts.client
    ns = opts.ns(namespace)
    printer = _Printer(as_json=as_json, verbose=verbose)
    start: int | None = None  # -n 0: only what commits from now on
    if count:
        # The last N lines are among the last N events (each has at least one operation):
        # only those are read, from the end of the agent's history.
        last = client.last_events(agent_id, count, namespace=ns)
        if as_json:
            printer.events(last)
        else:
            printer.entries(list(_entries(last, verbose=verbose))[-count:])
        start = last[-1].commit_ts + 1 if last else 1
    if not follow:
        if printer.count == 0:
            printer.none_found(agent_id)
        return
    try:
        printer.events(_interruptible(client.watch(agent_id, start, namespace=ns)))
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


def _dump_json(key: str, record: dict[str, Any], first: bool) -> str:
    """One member of ``json.dumps(state, indent=2)``, written as it is read."""
    body = _json(record, indent=2).replace("\n", "\n  ")
    return f"{'' if first else ','}\n  {_json(key)}: {body}"


def _dump_text(key: str, record: dict[str, Any]) -> str:
    value = _json(record["value"])
    return f"\n\n{key}:\n  Version: {record['version']}\n  Commit TS: {record['commit_ts']}\n  Value: {value}"


@cli.command()
@click.argument("agent_id")
@namespace_option
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Output file")
@click.option("--format", "output_format", type=click.Choice(["json", "text"]), default="json", help="Output format")
def dump(agent_id: str, namespace: str | None, output: Path | None, output_format: str) -> None:
    """Dump all state for an agent"""
    opts = _opts()
    client = opts.client
    ns = opts.ns(namespace)
    # One consistent view, read in pages: the agent's state as of its last commit (history
    # does not change, so later commits cannot mix into the pages).
    last = client.last_events(agent_id, 1, namespace=ns)
    entries = client.get_agent_state_as_of(agent_id, last[0].commit_ts, namespace=ns) if last else []
    with _output(output) as out, _progress(entries, f"dumping {len(entries)} keys") as bar:
        if output_format == "json":
            out.write("{")
            for i, entry in enumerate(bar):
                record = {"value": entry.value, "version": entry.version, "commit_ts": entry.commit_ts}
                out.write(_dump_json(entry.key or "", record, first=i == 0))
            out.write("\n}" if entries else "}")
        else:
            out.write(f"State dump for agent '{agent_id}' (namespace: {ns})\n")
            for entry in bar:
                record = {"value": entry.value, "version": entry.version, "commit_ts": entry.commit_ts}
                out.write(_dump_text(entry.key or "", record))
        if output is None:
            out.write("\n")
    if output is not None:
        click.echo(f"✓ State dumped to {output}")


@cli.command()
@click.argument("agent_id")
@namespace_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (keys, sizes, versions, event counts).")
def inspect(agent_id: str, namespace: str | None, as_json: bool) -> None:
    """Show agent summary (keys, recent activity, stats)"""
    opts = _opts()
    ns = opts.ns(namespace)
    if as_json:
        click.echo(json.dumps(_inspect_summary(opts.client, agent_id, ns), ensure_ascii=False, indent=2))
        return
    client = opts.client
    names = list(client.iter_keys(agent_id, namespace=ns))
    total_events = sum(1 for _ in client.replay(agent_id, namespace=ns))
    recent = client.last_events(agent_id, 5, namespace=ns) if total_events else []
    click.echo(click.style(f"\n=== Agent Inspect: {agent_id} ===", fg="cyan", bold=True))
    click.echo(f"Namespace: {ns}")
    click.echo(f"\nTotal Keys: {len(names)}")
    if names:
        click.echo("\nKeys (showing first 10):")
        for name in names[:10]:
            click.echo(f"  • {name}")
        if len(names) > 10:
            click.echo(f"  ... and {len(names) - 10} more")
    click.echo(f"\nTotal Events: {total_events}")
    if recent:
        click.echo(f"\nRecent Activity (last {len(recent)} events):")
        for line in _entries(recent, verbose=False):
            click.echo(f"  {line}")
    click.echo()


def _inspect_summary(client: Statehouse, agent_id: str, ns: str) -> dict[str, Any]:
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
    sizes = {entry.key or "": len(json.dumps(entry.value, separators=(",", ":")).encode()) for entry in entries}
    return {
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


def _event_ref(event: ReplayEvent | None) -> dict[str, Any] | None:
    if event is None:
        return None
    return {"commit_ts": event.commit_ts, "committed_at": event.to_dict()["committed_at"], "txn_id": event.txn_id}


cli.add_command(retention)
cli.add_command(horizon)
cli.add_command(auth)
cli.add_command(purge)


@cli.command()
@click.option(
    "--to",
    "to",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="New or empty directory for the backup.",
)
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def backup(to: Path, quiet: bool, as_json: bool) -> None:
    """Online backup: a consistent copy of the whole store at one commit_ts, while the daemon serves writes"""
    opts = _opts()
    last = [0.0]

    def progress(p: BackupProgress) -> None:
        now = time.monotonic()
        if quiet or now - last[0] < 1.0:
            return
        last[0] = now
        total = max(p.estimated_entries, p.entries)
        line = f"backup at commit_ts {p.commit_ts}: {p.entries}/~{total} entries, {p.bytes / 1048576:.1f} MiB"
        click.echo(f"\r{line}" if _stderr_is_tty() else line, err=True, nl=not _stderr_is_tty())

    try:
        result = write_backup(opts.client, to, on_progress=progress)
    except (IncompleteBackup, ValueError) as err:
        raise _Failure(_one_line(f"✗ Backup failed: {err}")) from err
    if not quiet and _stderr_is_tty():
        click.echo("", err=True)
    summary = {
        "directory": str(result.directory),
        "commit_ts": result.commit_ts,
        "entries": result.entries,
        "bytes": result.bytes,
        "files": len(result.files),
    }
    if as_json:
        click.echo(_json(summary))
        return
    click.echo(
        click.style(f"✓ Backup at commit_ts {result.commit_ts}", fg="green")
        + f": {result.entries} entries, {result.bytes} bytes in {len(result.files)} files, in {result.directory}"
    )
    click.echo(f"  restore with: statehoused restore --from {result.directory} --data-dir DIR")


def main() -> NoReturn:
    """The ``statehousectl`` console script."""
    try:
        cli.main(prog_name="statehousectl")
    except BrokenPipeError:
        # Output piped into e.g. `head` that exited: stop quietly, like other CLI tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    sys.exit(0)  # cli.main exits by itself; kept for the type checker
