"""Every read method of the blocking client, against the real daemon."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

import pytest

from statehouse import NotFoundError, Operation, Statehouse, StatehouseError, StateResult

Put = Callable[[str, dict[str, object]], int]


def test_health_and_version(client: Statehouse) -> None:
    assert client.health() == "ok"
    version, git_sha = client.version()
    assert isinstance(version, str) and version
    assert isinstance(git_sha, str)


def test_get_state_of_a_key_never_written(client: Statehouse, agent: str) -> None:
    assert client.get_state(agent, "missing") == StateResult(None, 0, 0, False, key="missing")


def test_write_then_read_with_versions_and_commit_ts(client: Statehouse, agent: str, put: Put) -> None:
    ts1 = put("memory", {"fact": "Paris is in France", "n": 1, "tags": ["geo"]})
    ts2 = put("memory", {"fact": "Lyon is in France", "n": 2.5, "nested": {"ok": True, "none": None}})
    assert ts2 > ts1
    state = client.get_state(agent_id=agent, key="memory")
    assert state == StateResult(
        value={"fact": "Lyon is in France", "n": 2.5, "nested": {"ok": True, "none": None}},
        version=2,
        commit_ts=ts2,
        exists=True,
        key="memory",
    )
    first = client.get_state_at_version(agent, "memory", 1)
    assert (first.value, first.version, first.commit_ts, first.exists) == (
        {"fact": "Paris is in France", "n": 1, "tags": ["geo"]},
        1,
        ts1,
        True,
    )
    assert isinstance(first.value and first.value["n"], int)


def test_delete_leaves_a_tombstone_with_a_version(client: Statehouse, agent: str, put: Put) -> None:
    put("k", {"a": 1})
    with client.begin_transaction() as tx:
        tx.delete(agent, "k")
    state = client.get_state(agent, "k")
    assert (state.exists, state.value, state.version, state.commit_ts) == (False, None, 2, tx.commit_ts)
    assert client.list_keys(agent) == []
    assert client.scan_prefix(agent, "") == []


def test_get_state_at_a_version_that_never_existed(client: Statehouse, agent: str, put: Put) -> None:
    put("k", {"a": 1})
    with pytest.raises(NotFoundError) as info:
        client.get_state_at_version(agent, "k", 7)
    assert info.value.code == "VERSION_NOT_FOUND"


def test_list_keys_and_scan_prefix_in_key_order(client: Statehouse, agent: str) -> None:
    with client.begin_transaction() as tx:
        for key in ["step/2", "step/10", "context", "step/1", "tool/search"]:
            tx.write(agent, key, {"key": key})
    assert client.list_keys(agent) == ["context", "step/1", "step/10", "step/2", "tool/search"]
    scanned = client.scan_prefix(agent, "step/")
    assert [(r.key, r.value, r.version, r.commit_ts, r.exists) for r in scanned] == [
        (key, {"key": key}, 1, tx.commit_ts, True) for key in ["step/1", "step/10", "step/2"]
    ]


def test_namespaces_are_separate(daemon_url: str, agent: str) -> None:
    with Statehouse(url=daemon_url, namespace="team-a") as a, Statehouse(url=daemon_url) as default:
        with a.begin_transaction() as tx:
            tx.write(agent, "k", {"ns": "team-a"})
        with default.begin_transaction(namespace="team-b") as tx_b:
            tx_b.write(agent, "k", {"ns": "team-b"})
        assert a.get_state(agent, "k").value == {"ns": "team-a"}
        assert default.get_state(agent, "k", namespace="team-b").value == {"ns": "team-b"}
        assert not default.get_state(agent, "k").exists
        assert default.list_keys(agent, namespace="team-a") == ["k"]
        [event] = list(default.replay(agent, namespace="team-b"))
        assert (event.namespace, event.agent_id) == ("team-b", agent)


def test_replay_returns_each_transaction_in_commit_order(client: Statehouse, agent: str, put: Put) -> None:
    ts1 = put("a", {"v": 1})
    with client.begin_transaction() as tx:
        tx.write(agent, "b", {"v": 2})
        tx.write(agent, "a", {"v": 3})
        tx.write("someone-else", "a", {"v": 4})
    with client.begin_transaction() as tx2:
        tx2.delete(agent, "b")
    events = list(client.replay(agent))
    assert [e.commit_ts for e in events] == [ts1, tx.commit_ts, tx2.commit_ts]
    assert events[1].txn_id  # the daemon's id; tx.txn_id is client-side (nothing is opened before the commit)
    assert events[1].operations == [Operation("b", {"v": 2}, 1), Operation("a", {"v": 3}, 2)]
    assert events[2].operations == [Operation("b", None, 2)]
    assert all((e.namespace, e.agent_id) == ("default", agent) for e in events)
    assert all(e.committed_at is not None and e.committed_at.tzinfo is not None for e in events)
    # Applying the events in order reproduces the current state.
    state: dict[str, object] = {}
    for event in events:
        for op in event.operations:
            state.pop(op.key, None) if op.value is None else state.__setitem__(op.key, op.value)
    assert state == {r.key: r.value for r in client.scan_prefix(agent, "")}
    assert list(client.replay_events(agent)) == events


def test_replay_bounds_are_inclusive(client: Statehouse, agent: str, put: Put) -> None:
    stamps = [put(f"k{i}", {"i": i}) for i in range(4)]
    assert [e.commit_ts for e in client.replay(agent, start_ts=stamps[1], end_ts=stamps[2])] == stamps[1:3]
    assert [e.commit_ts for e in client.replay(agent, start_ts=stamps[3])] == stamps[3:]
    assert [e.commit_ts for e in client.replay(agent, end_ts=stamps[0])] == stamps[:1]
    assert list(client.replay(agent, start_ts=stamps[3] + 1_000_000)) == []


def test_replay_pretty_lines(client: Statehouse, agent: str) -> None:
    with client.begin_transaction() as tx:
        tx.write(agent, "tool/search", {"query": "paris"})
        tx.write(agent, "final/answer", {"text": "Paris"})
    lines = list(client.replay_pretty(agent))
    assert len(lines) == 2
    assert lines[0].endswith(f'agent={agent}  TOOL   key=tool/search           v=1  {{"query":"paris"}}')
    assert lines[1].endswith(f'agent={agent}  FINAL  key=final/answer          v=1  {{"text":"Paris"}}')
    verbose = list(client.replay_pretty(agent, verbose=True))
    [event] = list(client.replay(agent))
    assert f"  txn={event.txn_id[:12]}  event=1\n  payload: " in verbose[1]
    assert repr(event) == "\n".join(lines)


def test_get_state_as_of_a_commit(client: Statehouse, agent: str, put: Put) -> None:
    ts1 = put("a", {"v": 1})
    ts2 = put("b", {"v": 2})
    ts3 = put("a", {"v": 3})
    assert client.get_state_as_of(agent, "a", ts1).value == {"v": 1}
    assert client.get_state_as_of(agent, "a", ts2) == StateResult({"v": 1}, 1, ts1, True, key="a")
    assert client.get_state_as_of(agent, "a", ts3).version == 2
    assert not client.get_state_as_of(agent, "b", ts1).exists
    as_of_2 = client.get_agent_state_as_of(agent, ts2)
    assert [(r.key, r.value) for r in as_of_2] == [("a", {"v": 1}), ("b", {"v": 2})]


def test_watch_replays_then_follows_live_commits(client: Statehouse, agent: str, put: Put) -> None:
    ts1 = put("a", {"v": 1})
    watch = client.watch(agent, start_ts=ts1)
    try:
        assert next(watch).commit_ts == ts1
        ts2 = put("a", {"v": 2})
        live = next(watch)
        assert (live.commit_ts, live.operations) == (ts2, [Operation("a", {"v": 2}, 2)])
    finally:
        watch.close()  # type: ignore[attr-defined]


def test_watch_without_start_sees_only_new_commits(client: Statehouse, agent: str, put: Put) -> None:
    ts_old = put("old", {"v": 0})
    done = threading.Event()

    def keep_committing() -> None:  # until the watcher has seen one; the stream opens at its first next()
        while not done.wait(0.05):
            put("new", {"v": 1})

    writer = threading.Thread(target=keep_committing)
    writer.start()
    watch = client.watch(agent)
    try:
        event = next(watch)
    finally:
        done.set()
        writer.join()
        watch.close()  # type: ignore[attr-defined]
    assert event.commit_ts > ts_old
    assert [op.key for op in event.operations] == ["new"]


def test_invalid_requests_raise_statehouse_error(client: Statehouse) -> None:
    with pytest.raises(StatehouseError) as info:
        client.get_state("", "k")
    assert info.value.code == "INVALID_REQUEST"
    assert info.value.details.get("field") == "agent_id"
    with pytest.raises(TypeError):
        client.get_state(1, "k")  # type: ignore[arg-type]


def test_many_keys_in_one_transaction(client: Statehouse, agent: str) -> None:
    with client.begin_transaction() as tx:
        for i in range(200):
            tx.write(agent, f"k{i:03}", {"i": i})
    assert len(client.list_keys(agent)) == 200
    assert [e.commit_ts for e in itertools.islice(client.replay(agent), 5)] == [tx.commit_ts]
