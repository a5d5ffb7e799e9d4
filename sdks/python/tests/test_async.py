"""AsyncStatehouse: the same methods as the blocking client, awaited, against the real daemon."""

from __future__ import annotations

import asyncio

import pytest

from statehouse import (
    AsyncStatehouse,
    AsyncTransaction,
    ConflictError,
    ConnectionError,
    NotFoundError,
    Operation,
    StateResult,
    TransactionError,
)


async def test_health_version_and_reads(aclient: AsyncStatehouse, agent: str) -> None:
    assert await aclient.health() == "ok"
    version, _sha = await aclient.version()
    assert version
    async with aclient.begin_transaction() as tx:
        tx.write(agent, "step/1", {"v": 1})
        tx.write(agent, "step/2", {"v": 2})
    ts = tx.commit_ts
    assert ts is not None
    assert await aclient.get_state(agent, "step/1") == StateResult({"v": 1}, 1, ts, True, key="step/1")
    assert await aclient.get_state_at_version(agent, "step/2", 1) == StateResult({"v": 2}, 1, ts, True, key="step/2")
    assert (await aclient.get_state_as_of(agent, "step/1", ts)).value == {"v": 1}
    assert [r.key for r in await aclient.get_agent_state_as_of(agent, ts)] == ["step/1", "step/2"]
    assert await aclient.list_keys(agent) == ["step/1", "step/2"]
    assert [r.key for r in await aclient.scan_prefix(agent, "step/")] == ["step/1", "step/2"]
    with pytest.raises(NotFoundError):
        await aclient.get_state_at_version(agent, "step/1", 9)


async def test_replay_replay_pretty_and_watch(aclient: AsyncStatehouse, agent: str) -> None:
    tx = await aclient.begin_transaction()
    tx.write(agent, "note/a", {"text": "hello"})
    ts1 = await tx.commit()
    events = [e async for e in aclient.replay(agent)]
    assert [(e.commit_ts, e.operations) for e in events] == [(ts1, [Operation("note/a", {"text": "hello"}, 1)])]
    assert [e async for e in aclient.replay_events(agent, start_ts=ts1, end_ts=ts1)] == events
    lines = [line async for line in aclient.replay_pretty(agent, verbose=True)]
    assert len(lines) == 1 and "  WRITE  key=note/a  v=1  txn=" in lines[0]  # verbose: the operation, not NOTE
    assert lines[0].endswith('  event=0\n  payload: {"text":"hello"}')

    watch = aclient.watch(agent, start_ts=ts1)
    assert (await anext(watch)).commit_ts == ts1
    async with aclient.begin_transaction() as tx2:
        tx2.delete(agent, "note/a")
    live = await anext(watch)
    assert (live.commit_ts, live.operations) == (tx2.commit_ts, [Operation("note/a", None, 2)])
    await watch.aclose()  # type: ignore[attr-defined]


async def test_transaction_lifecycle(aclient: AsyncStatehouse, agent: str) -> None:
    with pytest.raises(RuntimeError):
        async with aclient.begin_transaction() as tx:
            tx.write(agent, "k", {"v": 1})
            raise RuntimeError("abort me")
    assert tx.aborted
    assert not (await aclient.get_state(agent, "k")).exists

    tx = await aclient.begin_transaction()
    tx.write(agent, "k", {"v": 1})
    await tx.commit()
    with pytest.raises(TransactionError):
        await tx.commit()

    unknown = AsyncTransaction(aclient, "no-such-transaction")
    unknown.write(agent, "k", {"v": 2})
    with pytest.raises(TransactionError) as info:
        await unknown.commit()
    assert info.value.code == "TXN_NOT_FOUND"

    lazy = aclient.begin_transaction()  # neither awaited nor entered: commit() opens it first
    lazy.write(agent, "lazy", {"v": 1})
    assert await lazy.commit() > 0
    assert lazy.txn_id and lazy.committed


async def test_conflict_and_run_transaction(aclient: AsyncStatehouse, agent: str) -> None:
    async with aclient.begin_transaction() as setup:
        setup.write(agent, "counter", {"n": 0})
    tx = await aclient.begin_transaction()
    await tx.get(agent, "counter")
    async with aclient.begin_transaction() as other:
        other.write(agent, "counter", {"n": 5})
    tx.write(agent, "counter", {"n": 1})
    with pytest.raises(ConflictError):
        await tx.commit()

    async def increment(t: AsyncTransaction) -> int:
        n = int(((await t.get(agent, "counter")).value or {})["n"]) + 1
        t.write(agent, "counter", {"n": n})
        return n

    results = await asyncio.gather(*(aclient.run_transaction(increment, retries=20) for _ in range(5)))
    assert sorted(results) == [6, 7, 8, 9, 10]
    assert (await aclient.get_state(agent, "counter")).value == {"n": 10}


async def test_connection_error_when_the_daemon_is_down() -> None:
    async with AsyncStatehouse(url="127.0.0.1:1") as down:
        with pytest.raises(ConnectionError):
            await down.health()
        with pytest.raises(ConnectionError):
            async with down.begin_transaction():
                pass
        with pytest.raises(ConnectionError):
            [e async for e in down.replay("a")]


async def test_cancelling_a_watch_task_raises_cancelled_error(aclient: AsyncStatehouse, agent: str) -> None:
    async def follow() -> None:
        async for _ in aclient.watch(agent):
            pass

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await aclient.health() == "ok"  # the client is still usable
