"""Paged reads and the last-N replay against the real daemon, sync and async, and statehousectl on top.

The requests each call sends are recorded by wrapping the client's generated stub
(the real stub still makes every call), and the daemon's own replay counter shows
how many events ``tail -n N`` made it read.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner

from statehouse import AsyncStatehouse, ReplayEvent, Statehouse
from statehouse._calls import LastEvents
from statehouse.cli import cli

A_KEYS = [f"a/{i:02d}" for i in range(25)]
DELETED = {k for i, k in enumerate(A_KEYS) if i % 5 == 3}
LIVE_A = [k for k in A_KEYS if k not in DELETED]


def record(client: Statehouse | AsyncStatehouse, method: str) -> list[Any]:
    """The requests of every later ``method`` call of this client (the stub still makes them)."""
    requests: list[Any] = []
    real = getattr(client._stub, method)

    def recording(request: Any, **kwargs: Any) -> Any:
        requests.append(request)
        return real(request, **kwargs)

    setattr(client._stub, method, recording)
    return requests


@pytest.fixture
def seeded(client: Statehouse, agent: str) -> list[int]:
    """25 keys a/00..a/24 and tool/x, tool/y in one commit, 5 deleted, then 4 one-key commits."""
    commits = []
    with client.begin_transaction() as tx:
        for key in [*A_KEYS, "tool/x", "tool/y"]:
            tx.write(agent, key, {"key": key})
    commits.append(tx.commit_ts)
    with client.begin_transaction() as tx:
        for key in sorted(DELETED):
            tx.delete(agent, key)
    commits.append(tx.commit_ts)
    for i in range(4):
        with client.begin_transaction() as tx:
            tx.write(agent, f"e{i}", {"i": i})
        commits.append(tx.commit_ts)
    assert all(ts is not None for ts in commits)
    return [int(ts) for ts in commits if ts is not None]


def test_list_keys_sends_the_prefix_and_follows_every_page(client: Statehouse, agent: str, seeded: list[int]) -> None:
    sent = record(client, "list_keys")
    assert client.list_keys(agent, prefix="tool/", page_size=1) == ["tool/x", "tool/y"]
    # One key per page and two pages: the daemon filtered (client-side it would take 31 pages).
    assert [(r.prefix, r.page_size, bool(r.page_token)) for r in sent] == [("tool/", 1, False), ("tool/", 1, True)]
    sent.clear()
    expected = sorted([*LIVE_A, "e0", "e1", "e2", "e3", "tool/x", "tool/y"])
    assert client.list_keys(agent, page_size=7) == expected
    assert len(sent) == -(-len(expected) // 7)
    sent.clear()
    assert client.list_keys(agent) == expected
    assert [r.page_size for r in sent] == [10_000]  # always paged, never the unpaged (old-client) form


def test_iterators_fetch_only_the_pages_consumed(client: Statehouse, agent: str, seeded: list[int]) -> None:
    sent = record(client, "list_keys")
    keys = client.iter_keys(agent, prefix="a/", page_size=2)
    assert [next(keys), next(keys), next(keys)] == LIVE_A[:3]
    assert len(sent) == 2
    entries = list(client.iter_scan_prefix(agent, "a/", page_size=4))
    assert [e.key for e in entries] == LIVE_A
    assert entries[0].value == {"key": "a/00"} and entries[0].version == 1 and entries[0].commit_ts == seeded[0]
    assert client.scan_prefix(agent, "a/", page_size=3) == entries
    with pytest.raises(TypeError):
        client.iter_keys(agent, page_size=0)


def test_agent_state_as_of_pages(client: Statehouse, agent: str, seeded: list[int]) -> None:
    sent = record(client, "get_state_as_of")
    at_first = client.get_agent_state_as_of(agent, seeded[0], page_size=10)
    assert [e.key for e in at_first] == [*A_KEYS, "tool/x", "tool/y"]
    assert len(sent) == 3
    later = list(client.iter_agent_state_as_of(agent, seeded[1], page_size=4))
    assert [e.key for e in later] == [*LIVE_A, "tool/x", "tool/y"]


def test_last_events_reads_the_last_n_newest_first(client: Statehouse, agent: str, seeded: list[int]) -> None:
    sent = record(client, "replay_batches")
    last = client.last_events(agent, 3)
    assert [e.commit_ts for e in last] == seeded[-3:]
    assert [(op.key, op.value) for op in last[-1].operations] == [("e3", {"i": 3})]
    assert [(r.limit, r.reverse) for r in sent] == [(3, True)]
    assert [e.commit_ts for e in client.last_events(agent, 100)] == seeded
    assert client.last_events(agent, 0) == []
    assert [e.commit_ts for e in client.replay(agent, limit=2, reverse=True)] == seeded[:-3:-1]
    assert [e.commit_ts for e in client.replay(agent, limit=2)] == seeded[:2]


async def test_async_client_pages_too(aclient: AsyncStatehouse, agent: str, seeded: list[int]) -> None:
    sent = record(aclient, "list_keys")
    assert await aclient.list_keys(agent, prefix="tool/", page_size=1) == ["tool/x", "tool/y"]
    assert [r.prefix for r in sent] == ["tool/", "tool/"]
    assert [e.key async for e in aclient.iter_scan_prefix(agent, "a/", page_size=4)] == LIVE_A
    assert [e.key for e in await aclient.scan_prefix(agent, "a/", page_size=3)] == LIVE_A
    assert [k async for k in aclient.iter_keys(agent, prefix="e", page_size=3)] == ["e0", "e1", "e2", "e3"]
    at_first = await aclient.get_agent_state_as_of(agent, seeded[0], page_size=10)
    assert len(at_first) == 27
    assert [e.commit_ts for e in await aclient.last_events(agent, 2)] == seeded[-2:]


def _replayed_events(daemon_url: str) -> float:
    """The daemon's statehouse_replay_events_total."""
    base = daemon_url if "://" in daemon_url else f"http://{daemon_url}"
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        text = response.read().decode()
    match = re.search(r"^statehouse_replay_events_total (\S+)$", text, re.M)
    assert match is not None
    return float(match.group(1))


def test_statehousectl_tail_reads_only_the_last_n_events(
    daemon_url: str, agent: str, put: Callable[[str, dict[str, object]], int]
) -> None:
    for i in range(12):
        put(f"k{i}", {"i": i})
    before = _replayed_events(daemon_url)
    result = CliRunner().invoke(cli, ["tail", agent, "-n", "3"], env={"STATEHOUSE_ADDRESS": daemon_url})
    assert result.exit_code == 0, result.output
    # The keys of the last three events, in order, whatever the line format.
    assert list(dict.fromkeys(re.findall(r"\bk(\d+)\b", result.output))) == ["9", "10", "11"]
    assert _replayed_events(daemon_url) - before == 3  # not the 12 of the whole history


def test_statehousectl_keys_prefix(daemon_url: str, agent: str, seeded: list[int]) -> None:
    result = CliRunner().invoke(cli, ["keys", agent, "--prefix", "a/1"], env={"STATEHOUSE_ADDRESS": daemon_url})
    assert result.exit_code == 0, result.output
    assert re.findall(r"\ba/\d\d\b", result.output) == [k for k in LIVE_A if k.startswith("a/1")]


def _events(*timestamps: int) -> list[ReplayEvent]:
    return [ReplayEvent(txn_id=f"t{ts}", commit_ts=ts, operations=[]) for ts in timestamps]


@pytest.mark.parametrize(
    ("arriving", "count", "last"),
    [
        ((9, 8, 7), 3, (7, 8, 9)),  # a daemon with reverse: newest first, exactly count
        ((9, 8), 3, (8, 9)),  # fewer events than asked for
        ((1, 2, 3, 4, 5, 6), 3, (4, 5, 6)),  # an older daemon ignoring limit/reverse: oldest first, everything
        ((1, 2), 3, (1, 2)),
        ((5,), 1, (5,)),
    ],
)
def test_last_events_handles_both_daemon_orders(arriving: tuple[int, ...], count: int, last: tuple[int, ...]) -> None:
    kept = LastEvents(count)
    stopped_at = None
    for i, event in enumerate(_events(*arriving)):
        if kept.add(event):
            stopped_at = i
            break
    assert tuple(e.commit_ts for e in kept.result()) == last
    # Newest first, the answer is complete after `count` events; oldest first, only at the end.
    newest_first = len(arriving) > 1 and arriving[0] > arriving[1]
    assert stopped_at == (count - 1 if newest_first and len(arriving) >= count else None)
