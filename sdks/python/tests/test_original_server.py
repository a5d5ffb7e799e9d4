"""The SDK and statehousectl against a server like the original daemon: gRPC only, only the twelve original RPCs.

The server is a grpcio test double (tests/_original_server.py) in its own process. Without any
configuration the SDK talks to it (it speaks gRPC by default), commits with
BeginTransaction/Write/Delete/Commit once Transact answers UNIMPLEMENTED, replays with Replay,
and says so once in the ``statehouse`` log.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from statehouse import AsyncStatehouse, Statehouse, StateResult, TransactionError
from statehouse.cli import cli

TESTS = Path(__file__).parent


class OriginalServer:
    def __init__(self, tmp_path: Path) -> None:
        self.calls_file = tmp_path / "calls.txt"
        self.calls_file.touch()
        env = {**os.environ, "PYTHONPATH": str(TESTS / "_grpc_gen")}
        self.process = subprocess.Popen(
            [sys.executable, str(TESTS / "_original_server.py"), str(self.calls_file)],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert self.process.stdout is not None
        self.address = f"127.0.0.1:{int(self.process.stdout.readline())}"

    def calls(self) -> Counter[str]:
        return Counter(self.calls_file.read_text(encoding="utf-8").split())

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def original(tmp_path: Path) -> Iterator[OriginalServer]:
    server = OriginalServer(tmp_path)
    try:
        yield server
    finally:
        server.kill()


def test_a_program_for_the_original_sdk_runs_unchanged(
    original: OriginalServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="statehouse")
    with Statehouse(url=original.address) as client:
        assert client.health() == "ok"
        assert client.version() == ("0.1.1", "original-test-double")
        with client.begin_transaction() as tx:
            tx.write(agent_id="agent-1", key="memory", value={"fact": "Paris"})
            tx.write(agent_id="agent-1", key="tool/search", value={"query": "capital"})
        assert tx.commit_ts == 1
        tx2 = client.begin_transaction()
        tx2.write(agent_id="agent-1", key="memory", value={"fact": "Lyon"})
        tx2.delete(agent_id="agent-1", key="tool/search")
        assert tx2.commit() == 2
        assert client.get_state(agent_id="agent-1", key="memory") == StateResult({"fact": "Lyon"}, 2, 2, True, "memory")
        assert client.get_state(agent_id="agent-1", key="tool/search").exists is False
        assert client.get_state_at_version(agent_id="agent-1", key="memory", version=1).value == {"fact": "Paris"}
        assert client.list_keys(agent_id="agent-1") == ["memory"]
        assert [r.key for r in client.scan_prefix(agent_id="agent-1", prefix="mem")] == ["memory"]
        events = list(client.replay(agent_id="agent-1"))
        assert [(e.commit_ts, [(op.key, op.version) for op in e.operations]) for e in events] == [
            (1, [("memory", 1), ("tool/search", 1)]),
            (2, [("memory", 2), ("tool/search", 2)]),
        ]
        assert [e.commit_ts for e in client.replay_events(agent_id="agent-1", start_ts=2)] == [2]
        assert len(list(client.replay_pretty(agent_id="agent-1"))) == 4
        assert [e.commit_ts for e in client.last_events("agent-1", 1)] == [2]  # Replay ignores reverse/limit here
        assert client.run_transaction(lambda t: t.write("agent-1", "counter", {"n": 1})) is None
    calls = original.calls()
    assert (calls["BeginTransaction"], calls["Write"], calls["Delete"], calls["Commit"]) == (3, 4, 1, 3)
    fallbacks = [r.getMessage() for r in caplog.records if r.name == "statehouse"]
    assert len([m for m in fallbacks if "does not implement Transact" in m]) == 1  # said once
    assert any("using replay" in m for m in fallbacks)


def test_what_the_original_daemon_cannot_do_is_refused_not_faked(original: OriginalServer) -> None:
    with Statehouse(url=original.address) as client:
        with client.begin_transaction() as tx:
            tx.write("a", "k", {"v": 1})
        tx = client.begin_transaction()
        tx.get("a", "k")  # a read whose version the original cannot check at commit
        tx.write("a", "k", {"v": 2})
        with pytest.raises(TransactionError) as info:
            tx.commit()
        assert info.value.code == "UNIMPLEMENTED"
        assert client.get_state("a", "k").value == {"v": 1}  # nothing applied
    assert original.calls()["Commit"] == 1


async def test_the_async_client_too(original: OriginalServer) -> None:
    async with AsyncStatehouse(url=original.address) as client:
        async with client.begin_transaction() as tx:
            tx.write("a", "k", {"v": 1})
        assert tx.commit_ts == 1
        assert (await client.get_state("a", "k")).value == {"v": 1}
        assert [e.commit_ts async for e in client.replay("a")] == [1]


def test_statehousectl_against_the_original_daemon(original: OriginalServer) -> None:
    with Statehouse(url=original.address) as client, client.begin_transaction() as tx:
        tx.write("agent-1", "memory", {"fact": "Paris"})
    runner = CliRunner()
    health = runner.invoke(cli, ["--address", original.address, "health"])
    assert (health.exit_code, health.stdout) == (0, "✓ Daemon is healthy\n")
    keys = runner.invoke(cli, ["--address", original.address, "keys", "agent-1"])
    assert keys.stdout == "Keys for agent 'agent-1' (namespace: default):\n  - memory\n\nTotal: 1\n"
    tail = runner.invoke(cli, ["--address", original.address, "tail", "agent-1", "-n", "1"])
    assert tail.stdout.endswith('  WRITE  key=memory                v=1  {"fact":"Paris"}\n')
    assert tail.stdout.startswith("--:--:--Z  agent=agent-1")  # the original reports no commit time
