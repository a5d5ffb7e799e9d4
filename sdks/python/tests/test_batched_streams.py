"""Batched replay/watch and one RPC per transaction.

The daemon counts every statehouse.v1 call on /metrics
(``statehouse_rpc_requests_total{rpc}``): a transaction without reads must
cost exactly one ``Transact``, and replay/watch must use the batched streams.
Against a server older than the batched RPCs (a small connect-python WSGI
server that implements only Replay and Watch, so ReplayBatches/WatchBatches
answer UNIMPLEMENTED) the clients fall back to the per-event streams.
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _standin import daemon_error, serve
from click.testing import CliRunner
from connectrpc.code import Code
from connectrpc.request import RequestContext

from statehouse import AsyncStatehouse, Statehouse, TransactionError
from statehouse._gen.statehouse.v1 import statehouse_pb2 as pb
from statehouse._gen.statehouse.v1.statehouse_connect import (
    StatehouseServiceSync,
)
from statehouse.cli import cli


def rpc_counts(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"http://{url.removeprefix('http://')}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return {m[1]: int(m[2]) for m in re.finditer(r'^statehouse_rpc_requests_total\{rpc="(\w+)"\} (\d+)$', text, re.M)}


def rpcs_of(url: str, work: Callable[[], object]) -> dict[str, int]:
    """The RPCs ``work()`` made, by name (only those that grew)."""
    before = rpc_counts(url)
    work()
    after = rpc_counts(url)
    return {rpc: n - before.get(rpc, 0) for rpc, n in after.items() if n > before.get(rpc, 0)}


async def arpcs_of(url: str, work: Callable[[], Awaitable[object]]) -> dict[str, int]:
    before = rpc_counts(url)
    await work()
    after = rpc_counts(url)
    return {rpc: n - before.get(rpc, 0) for rpc, n in after.items() if n > before.get(rpc, 0)}


def test_with_block_and_run_transaction_are_one_transact(client: Statehouse, daemon_url: str, agent: str) -> None:
    def with_block() -> None:
        with client.begin_transaction() as tx:
            tx.write(agent, "a", {"n": 1})
            tx.delete(agent, "gone")

    assert rpcs_of(daemon_url, with_block) == {"Transact": 1}

    def read_then_write(tx: Any) -> None:
        seen = tx.get(agent, "a")
        tx.write(agent, "a", {"n": seen.value["n"] + 1})

    assert rpcs_of(daemon_url, lambda: client.run_transaction(read_then_write)) == {"GetState": 1, "Transact": 1}
    assert rpcs_of(daemon_url, lambda: client.run_transaction(lambda tx: tx.write(agent, "b", {}))) == {"Transact": 1}
    assert client.get_state(agent, "a").value == {"n": 2}

    def aborted() -> None:
        tx = client.begin_transaction()
        tx.write(agent, "a", {"n": 100})
        tx.abort()

    assert rpcs_of(daemon_url, aborted) == {}
    assert client.get_state(agent, "a").value == {"n": 2}


async def test_async_with_block_and_run_transaction_are_one_transact(
    aclient: AsyncStatehouse, daemon_url: str, agent: str
) -> None:
    async def with_block() -> None:
        async with aclient.begin_transaction() as tx:
            tx.write(agent, "a", {"n": 1})

    assert await arpcs_of(daemon_url, with_block) == {"Transact": 1}

    async def read_then_write(tx: Any) -> None:
        seen = await tx.get(agent, "a")
        tx.write(agent, "a", {"n": seen.value["n"] + 1})

    assert await arpcs_of(daemon_url, lambda: aclient.run_transaction(read_then_write)) == {
        "GetState": 1,
        "Transact": 1,
    }
    assert (await aclient.get_state(agent, "a")).value == {"n": 2}


def test_an_expired_transaction_fails_before_sending(client: Statehouse, daemon_url: str, agent: str) -> None:
    tx = client.begin_transaction(timeout_ms=50)
    tx.write(agent, "k", {"v": 1})
    time.sleep(0.2)
    errors: list[TransactionError] = []

    def commit() -> None:
        with pytest.raises(TransactionError) as info:
            tx.commit()
        errors.append(info.value)

    assert rpcs_of(daemon_url, commit) == {}
    assert errors[0].code == "TXN_EXPIRED"
    assert tx.aborted and tx.status.value == "aborted"
    assert not client.get_state(agent, "k").exists


def test_replay_and_watch_use_the_batched_streams(client: Statehouse, daemon_url: str, agent: str) -> None:
    with client.begin_transaction() as tx:
        tx.write(agent, "k", {"v": 1})

    def read() -> None:
        assert [e.commit_ts for e in client.replay(agent)] == [tx.commit_ts]
        watch = client.watch(agent, start_ts=tx.commit_ts)
        assert next(iter(watch)).commit_ts == tx.commit_ts
        watch.close()  # type: ignore[attr-defined]

    assert rpcs_of(daemon_url, read) == {"ReplayBatches": 1, "WatchBatches": 1}


def test_replay_crosses_batch_boundaries_in_order(client: Statehouse, agent: str) -> None:
    stamps = []
    for i in range(1100):  # more than one batch (at most 1 000 events each)
        with client.begin_transaction() as tx:
            tx.write(agent, f"k{i % 7}", {"i": i})
        stamps.append(tx.commit_ts)
    assert [e.commit_ts for e in client.replay(agent)] == stamps
    assert [e.commit_ts for e in client.replay(agent, reverse=True, limit=1050)] == stamps[::-1][:1050]


# ---- a server older than the batched RPCs ----

EVENTS = [
    pb.ReplayEvent(
        txn_id=f"t{ts}",
        commit_ts=ts,
        namespace="default",
        agent_id="old",
        operations=[pb.Operation(key="k", version=ts)],
    )
    for ts in (1, 2, 3)
]


class OldService(StatehouseServiceSync):
    """Only the original streams: every other RPC, the batched ones included, answers UNIMPLEMENTED."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def replay(self, request: pb.ReplayRequest, ctx: RequestContext[Any, Any], /) -> Iterator[pb.ReplayEvent]:
        self.calls.append("Replay")
        yield from (e for e in EVENTS if not request.HasField("start_ts") or e.commit_ts >= request.start_ts)

    def watch(self, request: pb.WatchRequest, ctx: RequestContext[Any, Any], /) -> Iterator[pb.ReplayEvent]:
        self.calls.append("Watch")
        yield from (e for e in EVENTS if not request.HasField("start_ts") or e.commit_ts >= request.start_ts)


@pytest.fixture
def old_server() -> Iterator[tuple[str, OldService]]:
    service = OldService()
    with serve(service) as url:
        yield url, service


def test_replay_and_watch_fall_back_to_the_original_streams(old_server: tuple[str, OldService]) -> None:
    url, service = old_server
    with Statehouse(url=url, protocol="connect") as client:  # the WSGI server speaks Connect over HTTP/1.1
        assert [e.commit_ts for e in client.replay("old")] == [1, 2, 3]
        assert [e.commit_ts for e in client.replay("old", start_ts=2)] == [2, 3]
        events = client.watch("old", start_ts=2)
        assert [next(iter(events)).commit_ts, next(iter(events)).commit_ts] == [2, 3]
        events.close()  # type: ignore[attr-defined]
    # The first UNIMPLEMENTED taught the client: no batched call after it.
    assert service.calls == ["Replay", "Replay", "Watch"]


async def test_async_replay_and_watch_fall_back_to_the_original_streams(old_server: tuple[str, OldService]) -> None:
    url, service = old_server
    async with AsyncStatehouse(url=url, protocol="connect") as client:
        watched = [e.commit_ts async for e in client.watch("old", start_ts=1)]
        assert watched == [1, 2, 3]  # this old server's Watch ends after the history
        assert [e.commit_ts async for e in client.replay("old")] == [1, 2, 3]
    assert service.calls == ["Watch", "Replay"]


def test_statehousectl_replay_tail_and_dump_use_the_batched_stream(
    client: Statehouse, daemon_url: str, agent: str, tmp_path: Path
) -> None:
    for i in range(3):
        with client.begin_transaction() as tx:
            tx.write(agent, "k", {"i": i})

    def invoke(*args: str) -> None:
        result = CliRunner().invoke(cli, list(args), env={"STATEHOUSE_ADDRESS": daemon_url})
        assert result.exit_code == 0, result.output

    assert rpcs_of(daemon_url, lambda: invoke("replay", agent)) == {"ReplayBatches": 1}
    assert rpcs_of(daemon_url, lambda: invoke("tail", agent, "-n", "2")) == {"ReplayBatches": 1}
    dumped = rpcs_of(daemon_url, lambda: invoke("dump", agent, "-o", str(tmp_path / "dump.json")))
    assert "Replay" not in dumped and dumped.get("ReplayBatches", 0) >= 1


class FullDiskService(StatehouseServiceSync):
    """Answers Transact as the daemon does when its disk is full."""

    def __init__(self) -> None:
        self.transacts = 0

    def transact(self, request: pb.TransactRequest, ctx: RequestContext[Any, Any], /) -> pb.TransactResponse:
        self.transacts += 1
        raise daemon_error(Code.RESOURCE_EXHAUSTED, pb.STORAGE_FULL, "the disk is full", path="/data")


def test_storage_full_at_commit_is_a_transaction_error_and_not_retried() -> None:
    """The same class and code as the TypeScript SDK (libs/sdk-ts/src/storage-full.test.ts)."""
    service = FullDiskService()
    with serve(service) as url, Statehouse(url=url, protocol="connect") as client:
        with pytest.raises(TransactionError) as info, client.begin_transaction() as tx:
            tx.write("a", "k", {"v": 1})
        assert (info.value.code, info.value.details) == ("STORAGE_FULL", {"path": "/data"})
        assert tx.aborted
        with pytest.raises(TransactionError) as again:
            client.run_transaction(lambda t: t.write("a", "k", {"v": 1}), retries=3)
        assert again.value.code == "STORAGE_FULL"
        assert service.transacts == 2  # run_transaction did not retry it
