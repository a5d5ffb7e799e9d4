"""statehousectl against the real daemon: the original's output, command by command (pretty and JSON)."""

from __future__ import annotations

import importlib
import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from _daemon import Daemon
from click.testing import CliRunner, Result

from statehouse import ReplayEvent, Statehouse
from statehouse.cli import cli
from statehouse.formatting import format_ts

Put = Callable[[str, dict[str, object]], int]
cli_main = importlib.import_module("statehouse.cli.main")  # the module (``statehouse.cli.main`` is the function)


@pytest.fixture
def run(daemon_url: str) -> Callable[..., Result]:
    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), env={"STATEHOUSE_ADDRESS": daemon_url, **(env or {})})

    return invoke


def _events(client: Statehouse, agent: str, namespace: str | None = None) -> list[ReplayEvent]:
    return list(client.replay(agent, namespace=namespace))


def _at(event: ReplayEvent) -> str:
    return format_ts(event.committed_at)


def test_health(run: Callable[..., Result]) -> None:
    result = run("health")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "✓ Daemon is healthy\n", "")
    result = run("health", "--json")
    assert (result.exit_code, json.loads(result.stdout)) == (0, {"status": "ok"})


def test_health_of_a_daemon_that_is_down_fails_on_stderr(refused: str = "127.0.0.1:1") -> None:
    for extra in ([], ["--json"]):
        result = CliRunner().invoke(cli, ["--address", refused, "health", *extra])
        assert (result.exit_code, result.stdout) == (1, "")
        assert result.stderr.startswith(
            "✗ Connection failed: connection to the Statehouse daemon at http://127.0.0.1:1"
        )
        assert result.stderr.count("\n") == 1


def test_version(run: Callable[..., Result], client: Statehouse) -> None:
    daemon_version, git_sha = client.version()
    result = run("version")
    assert (result.exit_code, result.stdout) == (0, f"Version: {daemon_version}\nGit SHA: {git_sha}\n")
    result = run("version", "--json")
    assert json.loads(result.stdout) == {"version": daemon_version, "git_sha": git_sha}


def test_address_option_wins_over_the_environment_and_both_variables_work(
    run: Callable[..., Result], daemon_url: str
) -> None:
    result = run("--address", daemon_url, "health", env={"STATEHOUSE_ADDRESS": "127.0.0.1:1"})
    assert result.exit_code == 0
    result = CliRunner().invoke(cli, ["health"], env={"STATEHOUSE_ADDRESS": None, "STATEHOUSE_ADDR": daemon_url})
    assert result.exit_code == 0


def test_get(run: Callable[..., Result], client: Statehouse, agent: str, put: Put) -> None:
    ts = put("memory", {"fact": "Paris", "n": 1})
    result = run("get", agent, "memory")
    assert (result.exit_code, result.stdout) == (
        0,
        f'Key:       memory\nVersion:   1\nCommit TS: {ts}\n\nValue:\n{{\n  "fact": "Paris",\n  "n": 1\n}}\n',
    )
    [event] = _events(client, agent)
    result = run("get", agent, "memory", "--pretty")
    assert (
        result.stdout
        == f'Key:       memory\nVersion:   1\nTimestamp: {_at(event)}\n\nValue: {{"fact":"Paris","n":1}}\n'
    )
    for flag in ("--json-output", "--json"):
        result = run("get", agent, "memory", flag)
        assert result.stdout == (
            f'{{\n  "key": "memory",\n  "version": 1,\n  "commit_ts": {ts},\n  "value": {{\n'
            '    "fact": "Paris",\n    "n": 1\n  }\n}\n'
        )


def test_get_of_a_missing_or_deleted_key_fails_on_stderr(
    run: Callable[..., Result], client: Statehouse, agent: str, put: Put
) -> None:
    put("gone", {"v": 1})
    with client.begin_transaction() as tx:
        tx.delete(agent, "gone")
    for key in ("nope", "gone"):
        for extra in ([], ["--json-output"]):
            result = run("get", agent, key, *extra)
            assert (result.exit_code, result.stdout, result.stderr) == (1, "", "✗ Key not found\n")


def test_namespaces_per_command_and_global(run: Callable[..., Result], daemon_url: str, agent: str) -> None:
    with Statehouse(url=daemon_url, namespace="ops") as client, client.begin_transaction() as tx:
        tx.write(agent, "k", {"v": 1})
    assert run("get", agent, "k").exit_code == 1
    for args in (("get", agent, "k", "--namespace", "ops"), ("--namespace", "ops", "get", agent, "k")):
        result = run(*args)
        assert (result.exit_code, result.stdout.splitlines()[-3:]) == (0, ["{", '  "v": 1', "}"])


def test_keys(run: Callable[..., Result], client: Statehouse, agent: str) -> None:
    with client.begin_transaction() as tx:
        for key in ["b", "a", "step/2", "step/1"]:
            tx.write(agent, key, {"k": key})
    assert run("keys", agent).stdout == (
        f"Keys for agent '{agent}' (namespace: default):\n  - a\n  - b\n  - step/1\n  - step/2\n\nTotal: 4\n"
    )
    assert run("keys", agent, "--prefix", "step/").stdout == (
        f"Keys for agent '{agent}' (namespace: default):\n  - step/1\n  - step/2\n\nTotal: 2\n"
    )
    assert json.loads(run("keys", agent, "--prefix", "step/", "--json").stdout) == {
        "namespace": "default",
        "agent_id": agent,
        "count": 2,
        "keys": ["step/1", "step/2"],
    }
    result = run("keys", "agent-with-nothing")
    assert (result.exit_code, result.stdout) == (0, "No keys found for agent 'agent-with-nothing'\n")
    assert json.loads(run("keys", "agent-with-nothing", "--json").stdout)["count"] == 0


def _story(client: Statehouse, agent: str) -> list[ReplayEvent]:
    with client.begin_transaction() as tx:
        tx.write(agent, "context", {"phase": "research", "topic": "databases"})
        tx.write(agent, "tool/search", {"query": "raft vs paxos", "results": 8})
    with client.begin_transaction() as tx:
        tx.write(agent, "draft", {"text": "x" * 130, "n": 1})
        tx.delete(agent, "context")
    return _events(client, agent)


def test_replay_pretty(run: Callable[..., Result], client: Statehouse, agent: str) -> None:
    one, two = _story(client, agent)
    a = f"agent={agent}"
    expected = [
        f'{_at(one)}  {a}  WRITE  key=context               v=1  {{"phase":"research","topic":"databases"}}',
        f'{_at(one)}  {a}  TOOL   key=tool/search           v=1  {{"query":"raft vs paxos","results":8}}',
        f"{_at(two)}  {a}  WRITE  key=draft                 v=1  {{n:..., text:...}}",
        f"{_at(two)}  {a}  DEL    key=context               v=2",
    ]
    assert run("replay", agent).stdout.splitlines() == expected
    assert list(client.replay_pretty(agent)) == expected
    # --limit counts the printed operations (0 means no limit, as in the original).
    assert run("replay", agent, "--limit", "3").stdout.splitlines() == expected[:3]
    assert run("replay", agent, "--limit", "0").stdout.splitlines() == expected
    ranged = run("replay", agent, "--start-ts", str(two.commit_ts), "--end-ts", str(two.commit_ts))
    assert ranged.stdout.splitlines() == expected[2:]
    empty = run("replay", "agent-with-nothing")
    assert (empty.exit_code, empty.stdout) == (0, "No events found for agent 'agent-with-nothing'\n")


def test_replay_verbose(run: Callable[..., Result], client: Statehouse, agent: str) -> None:
    one, two = _story(client, agent)
    a = f"agent={agent}"
    assert run("replay", agent, "--verbose").stdout == (
        f"{_at(one)}  {a}  WRITE  key=context  v=1  txn={one.txn_id[:12]}  event=0\n"
        '  payload: {"phase":"research","topic":"databases"}\n\n'
        f"{_at(one)}  {a}  WRITE  key=tool/search  v=1  txn={one.txn_id[:12]}  event=1\n"
        '  payload: {"query":"raft vs paxos","results":8}\n\n'
        f"{_at(two)}  {a}  WRITE  key=draft  v=1  txn={two.txn_id[:12]}  event=0\n"
        f'  payload: {{"n":1,"text":"{"x" * 130}"}}\n\n'
        f"{_at(two)}  {a}  DELETE  key=context  v=2  txn={two.txn_id[:12]}  event=1\n"
    )


def test_replay_json(run: Callable[..., Result], client: Statehouse, agent: str) -> None:
    one, two = _story(client, agent)
    lines = run("replay", agent, "--json").stdout.splitlines()
    assert [json.loads(line) for line in lines] == [one.to_dict(), two.to_dict()]
    assert lines[0].startswith(f'{{"txn_id":"{one.txn_id}","commit_ts":{one.commit_ts},"namespace":"default",')
    assert run("replay", agent, "--json", "--limit", "1").stdout.splitlines() == lines[:1]  # events, with --json
    empty = run("replay", "agent-with-nothing", "--json")
    assert (empty.stdout, empty.stderr) == ("", "No events found for agent 'agent-with-nothing'\n")


def test_replay_shows_a_namespace_other_than_default(run: Callable[..., Result], daemon_url: str, agent: str) -> None:
    with Statehouse(url=daemon_url, namespace="prod") as client:
        with client.begin_transaction() as tx:
            tx.write(agent, "final/answer", {"conclusion": "Raft"})
        [event] = _events(client, agent)
    line = run("replay", agent, "--namespace", "prod").stdout
    assert (
        line == f'{_at(event)}  ns=prod  agent={agent}  FINAL  key=final/answer          v=1  {{"conclusion":"Raft"}}\n'
    )


def test_tail_counts_lines(run: Callable[..., Result], client: Statehouse, agent: str) -> None:
    _story(client, agent)
    everything = run("replay", agent).stdout.splitlines()
    for args in (("-n", "3"), ("--lines", "3")):
        assert run("tail", agent, *args).stdout.splitlines() == everything[-3:]  # 3 lines from 2 events
    assert run("tail", agent, "-n", "1").stdout.splitlines() == everything[-1:]
    assert run("tail", agent).stdout.splitlines() == everything  # default 10
    json_lines = run("tail", agent, "-n", "1", "--json").stdout.splitlines()
    assert json_lines == run("replay", agent, "--json").stdout.splitlines()[-1:]  # one line: the last event
    empty = run("tail", "agent-with-nothing")
    assert (empty.exit_code, empty.stdout) == (0, "No events found for agent 'agent-with-nothing'\n")


def _statehousectl(*args: str) -> subprocess.Popen[str]:
    """The installed console script, as a user runs it."""
    script = Path(sys.executable).parent / "statehousectl"
    return subprocess.Popen([str(script), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_python_dash_m_statehouse_cli_runs_the_cli(daemon_url: str) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "statehouse.cli", "--address", daemon_url, "health"], capture_output=True, text=True
    )
    assert (ok.returncode, ok.stdout) == (0, "✓ Daemon is healthy\n")
    down = subprocess.run(
        [sys.executable, "-m", "statehouse.cli", "--address", "127.0.0.1:1", "health"], capture_output=True, text=True
    )
    assert (down.returncode, down.stdout) == (1, "")
    assert down.stderr.startswith("✗ Connection failed:")


def test_tail_follow_prints_new_commits_until_ctrl_c(daemon_url: str, agent: str, put: Put) -> None:
    put("before", {"v": 0})
    follower = _statehousectl("--address", daemon_url, "tail", agent, "-n", "1", "--follow")
    try:
        assert follower.stdout is not None
        assert "key=before" in follower.stdout.readline()
        put("live", {"v": 1})
        assert "key=live" in follower.stdout.readline()
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=10) == 0
    finally:
        follower.kill()
        follower.communicate()


def test_tail_follow_fails_with_one_line_when_the_daemon_dies(own_daemon: Daemon) -> None:
    own_daemon.start()
    follower = _statehousectl("--address", own_daemon.url, "tail", "a", "--follow")
    try:
        with Statehouse(url=own_daemon.url) as client, client.begin_transaction() as tx:
            tx.write("a", "k", {"v": 1})
        assert follower.stdout is not None
        assert "key=k" in follower.stdout.readline()  # the stream is open
        own_daemon.kill()
        _, err = follower.communicate(timeout=10)
        assert follower.returncode == 1
        assert err.count("\n") == 1 and err.startswith("✗ Error: connection to the Statehouse daemon")
    finally:
        follower.kill()
        follower.communicate()


def test_dump_json(run: Callable[..., Result], client: Statehouse, agent: str, tmp_path: Path) -> None:
    with client.begin_transaction() as tx:
        tx.write(agent, "a", {"v": 1, "s": "é"})
        tx.write(agent, "b/c", {"nested": {"x": [1, 2]}})
    ts = tx.commit_ts
    state = {
        "a": {"value": {"s": "é", "v": 1}, "version": 1, "commit_ts": ts},
        "b/c": {"value": {"nested": {"x": [1, 2]}}, "version": 1, "commit_ts": ts},
    }
    result = run("dump", agent)
    assert (result.exit_code, result.stdout) == (0, json.dumps(state, indent=2) + "\n")
    out = tmp_path / "dump.json"
    result = run("dump", agent, "-o", str(out))
    assert (result.exit_code, result.stdout) == (0, f"✓ State dumped to {out}\n")
    assert out.read_text(encoding="utf-8") == json.dumps(state, indent=2)
    assert run("dump", "agent-with-nothing").stdout == "{}\n"


def test_dump_text(run: Callable[..., Result], client: Statehouse, agent: str, tmp_path: Path) -> None:
    with client.begin_transaction() as tx:
        tx.write(agent, "a", {"v": 1})
        tx.write(agent, "b", {"w": [1, 2]})
    ts = tx.commit_ts
    expected = (
        f"State dump for agent '{agent}' (namespace: default)\n\n"
        f'\na:\n  Version: 1\n  Commit TS: {ts}\n  Value: {{"v": 1}}\n'
        f'\nb:\n  Version: 1\n  Commit TS: {ts}\n  Value: {{"w": [1, 2]}}'
    )
    assert run("dump", agent, "--format", "text").stdout == expected + "\n"
    out = tmp_path / "dump.txt"
    assert run("dump", agent, "--output", str(out), "--format", "text").exit_code == 0
    assert out.read_text(encoding="utf-8") == expected


def test_dump_shows_a_progress_bar_only_on_a_terminal(
    run: Callable[..., Result], put: Put, agent: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    put("a", {"v": 1})
    assert "dumping" not in run("dump", agent).stderr  # CliRunner's stderr is not a terminal
    monkeypatch.setattr(cli_main, "_stderr_is_tty", lambda: True)
    result = run("dump", agent)
    assert result.stderr.startswith("dumping 1 keys")  # click draws only the label on a non-terminal file
    assert json.loads(result.stdout)["a"]["value"] == {"v": 1}  # stdout stays clean


def test_inspect(run: Callable[..., Result], client: Statehouse, agent: str, put: Put) -> None:
    for i in range(12):
        put(f"k{i:02}", {"i": i})
    events = _events(client, agent)
    recent = [
        f'  {_at(e)}  agent={agent}  WRITE  key=k{i:02}                   v=1  {{"i":{i}}}'
        for i, e in list(enumerate(events))[-5:]
    ]
    assert run("inspect", agent).stdout.splitlines() == [
        "",
        f"=== Agent Inspect: {agent} ===",
        "Namespace: default",
        "",
        "Total Keys: 12",
        "",
        "Keys (showing first 10):",
        *[f"  • k{i:02}" for i in range(10)],
        "  ... and 2 more",
        "",
        "Total Events: 12",
        "",
        "Recent Activity (last 5 events):",
        *recent,
        "",
    ]
    empty = run("inspect", "agent-with-nothing").stdout
    assert (
        empty
        == "\n=== Agent Inspect: agent-with-nothing ===\nNamespace: default\n\nTotal Keys: 0\n\nTotal Events: 0\n\n"
    )


def test_inspect_json(run: Callable[..., Result], client: Statehouse, agent: str, put: Put) -> None:
    put("a", {"v": 1})
    put("a", {"v": 2})
    with client.begin_transaction() as tx:
        tx.delete(agent, "a")
        tx.write(agent, "b", {"v": 3})
    summary = json.loads(run("inspect", agent, "--json").stdout)
    assert {k: summary[k] for k in ("keys", "events", "writes", "deletes")} == {
        "keys": 1,
        "events": 3,
        "writes": 3,
        "deletes": 1,
    }
    assert summary["last"]["commit_ts"] == tx.commit_ts
    assert summary["records"] == [{"key": "b", "version": 1, "commit_ts": tx.commit_ts, "bytes": len('{"v":3}')}]


def test_failures_are_one_line_on_stderr_with_a_non_zero_exit(refused: str = "127.0.0.1:1") -> None:
    result = CliRunner().invoke(cli, ["--address", refused, "keys", "a"])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("✗ Error: connection to the Statehouse daemon at http://127.0.0.1:1 failed")
    assert result.stderr.rstrip().endswith("[UNAVAILABLE]")
    assert "Traceback" not in result.stderr


def test_debug_shows_the_exception(refused: str = "127.0.0.1:1") -> None:
    result = CliRunner().invoke(cli, ["--debug", "--address", refused, "keys", "a"])
    assert result.exit_code == 1
    assert type(result.exception).__name__ == "ConnectionError"


def test_usage_errors_exit_2(run: Callable[..., Result]) -> None:
    assert run("get", "only-agent").exit_code == 2
    assert run("dump", "a", "--format", "xml").exit_code == 2
    assert run("tail", "a", "--lines", "x").exit_code == 2
