"""Connection failures: every method raises statehouse.ConnectionError when the daemon is refused, reset,
SIGKILLed mid-call or mid-stream; the same client works again after a restart; a commit whose answer
was lost applies exactly once."""

from __future__ import annotations

import builtins
import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _daemon import Daemon

from statehouse import (
    AsyncStatehouse,
    ConnectionError,
    Statehouse,
    StateResult,
    Transaction,
    TransactionError,
)

SYNC_CALLS: dict[str, Callable[[Statehouse], object]] = {
    "health": lambda c: c.health(),
    "version": lambda c: c.version(),
    "begin_transaction().commit()": lambda c: c.begin_transaction().commit(),
    "get_state": lambda c: c.get_state("a", "k"),
    "get_state_at_version": lambda c: c.get_state_at_version("a", "k", 1),
    "get_state_as_of": lambda c: c.get_state_as_of("a", "k", 1),
    "get_agent_state_as_of": lambda c: c.get_agent_state_as_of("a", 1),
    "list_keys": lambda c: c.list_keys("a"),
    "scan_prefix": lambda c: c.scan_prefix("a", ""),
    "replay": lambda c: list(c.replay("a")),
    "replay_events": lambda c: list(c.replay_events("a")),
    "replay_pretty": lambda c: list(c.replay_pretty("a")),
    "watch": lambda c: next(iter(c.watch("a"))),
    "run_transaction": lambda c: c.run_transaction(lambda tx: tx.write("a", "k", {"v": 1}), retries=0),
    "with begin_transaction()": lambda c: _with_block(c),
}


def _with_block(client: Statehouse) -> None:
    with client.begin_transaction() as tx:
        tx.write("a", "k", {"v": 1})


async def _async_call(client: AsyncStatehouse, name: str) -> object:
    calls: dict[str, Callable[[], Any]] = {
        "health": client.health,
        "version": client.version,
        "begin_transaction().commit()": lambda: client.begin_transaction().commit(),
        "get_state": lambda: client.get_state("a", "k"),
        "get_state_at_version": lambda: client.get_state_at_version("a", "k", 1),
        "get_state_as_of": lambda: client.get_state_as_of("a", "k", 1),
        "get_agent_state_as_of": lambda: client.get_agent_state_as_of("a", 1),
        "list_keys": lambda: client.list_keys("a"),
        "scan_prefix": lambda: client.scan_prefix("a", ""),
        "replay": lambda: _collect(client.replay("a")),
        "replay_events": lambda: _collect(client.replay_events("a")),
        "replay_pretty": lambda: _collect(client.replay_pretty("a")),
        "watch": lambda: anext(client.watch("a")),
        "run_transaction": lambda: client.run_transaction(_async_write, retries=0),
        "with begin_transaction()": lambda: _async_with_block(client),
    }
    return await calls[name]()


async def _collect(items: Any) -> list[object]:
    return [item async for item in items]


async def _async_write(tx: Any) -> None:
    tx.write("a", "k", {"v": 1})


async def _async_with_block(client: AsyncStatehouse) -> None:
    async with client.begin_transaction() as tx:
        tx.write("a", "k", {"v": 1})


@pytest.fixture(scope="module")
def refused_url() -> Iterator[str]:
    """An address where nothing listens (bound, never listening, so no one else takes the port)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{holder.getsockname()[1]}"


class _BadServer:
    """A TCP server that is not a working daemon: it resets each connection, reads the request and hangs
    up, or reads it and never answers."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.held: list[socket.socket] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.mode == "silent":
                self.held.append(conn)
                continue
            if self.mode == "hang-up":
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.recv(65536)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
            conn.close()

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture(params=["reset", "hang-up"])
def bad_server(request: pytest.FixtureRequest) -> Iterator[_BadServer]:
    server = _BadServer(request.param)
    yield server
    server.close()


@pytest.mark.parametrize("name", SYNC_CALLS)
def test_every_method_raises_connection_error_when_refused(refused_url: str, name: str) -> None:
    with Statehouse(url=refused_url) as client, pytest.raises(ConnectionError) as info:
        SYNC_CALLS[name](client)
    assert info.value.code == "UNAVAILABLE"
    assert isinstance(info.value, builtins.ConnectionError)
    assert refused_url in str(info.value)


@pytest.mark.parametrize("name", SYNC_CALLS)
async def test_every_async_method_raises_connection_error_when_refused(refused_url: str, name: str) -> None:
    async with AsyncStatehouse(url=refused_url) as client:
        with pytest.raises(ConnectionError):
            await _async_call(client, name)


@pytest.mark.parametrize("name", ["health", "get_state", "replay", "watch", "with begin_transaction()"])
def test_reset_or_hung_up_connections_raise_connection_error(bad_server: _BadServer, name: str) -> None:
    with Statehouse(url=bad_server.url) as client, pytest.raises(ConnectionError):
        SYNC_CALLS[name](client)


def test_a_daemon_that_never_answers_raises_connection_error_after_the_timeout() -> None:
    server = _BadServer("silent")
    try:
        with Statehouse(url=server.url, timeout=0.2) as client, pytest.raises(ConnectionError) as info:
            client.get_state("a", "k")
        assert info.value.code == "UNAVAILABLE"
    finally:
        server.close()


def test_daemon_killed_then_restarted(own_daemon: Daemon) -> None:
    own_daemon.start()
    client = Statehouse(url=own_daemon.url)
    with client.begin_transaction() as tx:
        tx.write("a", "k", {"v": 1})
    committed_ts = tx.commit_ts
    open_tx = client.begin_transaction()  # open (in the client only) when the daemon dies
    open_tx.write("a", "lost", {"v": 1})
    reader = client.begin_transaction()

    own_daemon.kill()
    for name, call in SYNC_CALLS.items():
        with pytest.raises(ConnectionError):
            call(client)
        assert name  # every method, including the transaction helpers
    with pytest.raises(ConnectionError):
        reader.get("a", "k")
    reader.abort()  # no call: nothing of it was sent
    assert reader.aborted
    with pytest.raises(ConnectionError):
        open_tx.commit()
    assert not open_tx.committed and not open_tx.aborted  # the outcome is unknown: it stays open

    own_daemon.start()  # same data dir, same port
    assert client.health() == "ok"  # the same client object works again
    assert client.get_state("a", "k") == StateResult({"v": 1}, 1, committed_ts or 0, True, key="k")
    assert open_tx.commit() > (committed_ts or 0)  # resent as one transaction with its idempotency key
    assert client.get_state("a", "lost").value == {"v": 1}
    assert [e.commit_ts for e in client.replay("a")] == [committed_ts, open_tx.commit_ts]
    client.close()


def test_daemon_killed_mid_stream(own_daemon: Daemon) -> None:
    own_daemon.start()
    with Statehouse(url=own_daemon.url) as client:
        with client.begin_transaction() as tx:
            tx.write("a", "k", {"v": 1})
        watch = client.watch("a", start_ts=1)
        assert next(watch).commit_ts == tx.commit_ts
        own_daemon.kill()
        with pytest.raises(ConnectionError):
            next(watch)
        own_daemon.start()
        watch = client.watch("a", start_ts=1)
        assert next(watch).commit_ts == tx.commit_ts
        watch.close()  # type: ignore[attr-defined]


async def test_async_daemon_killed_mid_stream_and_restarted(own_daemon: Daemon) -> None:
    own_daemon.start()
    async with AsyncStatehouse(url=own_daemon.url) as client:
        async with client.begin_transaction() as tx:
            tx.write("a", "k", {"v": 1})
        watch = client.watch("a", start_ts=1)
        assert (await anext(watch)).commit_ts == tx.commit_ts
        own_daemon.kill()
        with pytest.raises(ConnectionError):
            await anext(watch)
        with pytest.raises(ConnectionError):
            await client.get_state("a", "k")
        own_daemon.start()
        assert (await client.get_state("a", "k")).value == {"v": 1}


def test_daemon_killed_during_commit_before_sync_loses_the_transaction(own_daemon: Daemon) -> None:
    own_daemon.start(STATEHOUSE_FAILPOINT="commit:before-sync")
    with Statehouse(url=own_daemon.url) as client:
        with pytest.raises(ConnectionError), client.begin_transaction() as tx:
            tx.write("a", "k", {"v": 1})
            tx.write("a", "k2", {"v": 2})
        assert own_daemon.wait_exit() != 0
        own_daemon.start()
        assert not client.get_state("a", "k").exists
        assert list(client.replay("a")) == []


def test_commit_whose_answer_was_lost_applies_exactly_once(own_daemon: Daemon) -> None:
    own_daemon.start()
    with Statehouse(url=own_daemon.url) as client:
        with client.begin_transaction() as setup:
            setup.write("a", "counter", {"n": 0})
        own_daemon.restart(STATEHOUSE_FAILPOINT="commit:after-sync-before-reply")

        def restart_after_crash() -> None:
            own_daemon.wait_exit()
            own_daemon.start()

        restarter = threading.Thread(target=restart_after_crash)
        restarter.start()
        calls = 0

        def increment(tx: Transaction) -> int:
            nonlocal calls
            calls += 1
            n = int((tx.get("a", "counter").value or {})["n"]) + 1
            tx.write("a", "counter", {"n": n})
            return n

        try:
            assert client.run_transaction(increment, retries=10) == 1
        finally:
            restarter.join()
        assert calls == 1  # the lost answer is resolved by resending the commit, not by running fn again
        state = client.get_state("a", "counter")
        assert (state.value, state.version) == ({"n": 1}, 2)
        assert len(list(client.replay("a"))) == 2


def test_commit_retried_by_hand_after_a_lost_answer_reports_the_duplicate(own_daemon: Daemon) -> None:
    own_daemon.start(STATEHOUSE_FAILPOINT="commit:after-sync-before-reply")
    with Statehouse(url=own_daemon.url) as client:
        tx = client.begin_transaction()
        tx.write("a", "k", {"v": 1})
        with pytest.raises(ConnectionError):
            tx.commit()
        own_daemon.wait_exit()
        own_daemon.start()
        commit_ts = tx.commit()
        assert tx.duplicate and tx.committed
        assert client.get_state("a", "k") == StateResult({"v": 1}, 1, commit_ts, True, key="k")
        with pytest.raises(TransactionError):
            tx.commit()


def test_daemon_shutting_down_ends_streams_with_connection_error(own_daemon: Daemon) -> None:
    own_daemon.start()
    with Statehouse(url=own_daemon.url) as client:
        with client.begin_transaction() as tx:
            tx.write("a", "k", {"v": 1})
        watch = client.watch("a", start_ts=1)
        assert next(watch).commit_ts == tx.commit_ts
        stopper = threading.Thread(target=own_daemon.stop)  # SIGTERM: drain, end follow streams, exit
        stopper.start()
        try:
            with pytest.raises(ConnectionError) as info:
                next(watch)
        finally:
            stopper.join()
        assert info.value.code == "UNAVAILABLE"


def test_connection_failures_inside_a_transaction_are_also_transaction_errors(own_daemon: Daemon) -> None:
    """The original SDK raised TransactionError there, and its FAQ tells users to catch it."""
    own_daemon.start()
    with Statehouse(url=own_daemon.url) as client:
        open_tx = client.begin_transaction()
        open_tx.write("a", "k", {"v": 1})
        own_daemon.kill()

        def original_style(fn: Callable[[], object]) -> TransactionError:
            try:
                fn()
            except TransactionError as err:  # as a program written for the original SDK does
                return err
            raise AssertionError("no TransactionError")

        def with_block() -> None:
            with client.begin_transaction() as tx:
                tx.write("a", "k", {"v": 2})

        for fn in (client.begin_transaction().commit, open_tx.commit, with_block):
            err = original_style(fn)
            assert isinstance(err, ConnectionError) and isinstance(err, builtins.ConnectionError)
            assert err.code == "UNAVAILABLE"
        # Reads outside a transaction keep their class.
        with pytest.raises(ConnectionError) as info:
            client.get_state("a", "k")
        assert not isinstance(info.value, TransactionError)
        own_daemon.start()
        assert open_tx.commit() > 0  # still the retryable ConnectionError semantics
        assert client.get_state("a", "k").value == {"v": 1}


def test_daemon_killed_during_a_with_block_commit_raises_a_transaction_error(own_daemon: Daemon) -> None:
    own_daemon.start(STATEHOUSE_FAILPOINT="commit:before-sync")
    with Statehouse(url=own_daemon.url) as client:
        with pytest.raises(TransactionError) as info, client.begin_transaction() as tx:
            tx.write("a", "k", {"v": 1})
        assert isinstance(info.value, ConnectionError)
        assert own_daemon.wait_exit() != 0


async def test_async_connection_failures_inside_a_transaction_are_also_transaction_errors(
    own_daemon: Daemon,
) -> None:
    own_daemon.start()
    async with AsyncStatehouse(url=own_daemon.url) as client:
        tx = await client.begin_transaction()
        tx.write("a", "k", {"v": 1})
        own_daemon.kill()
        for attempt in (client.begin_transaction().commit, tx.commit):
            with pytest.raises(TransactionError) as info:
                await attempt()
            assert isinstance(info.value, ConnectionError)
