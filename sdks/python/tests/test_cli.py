"""statehousectl through click's CliRunner, against the real daemon."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from _daemon import Daemon
from click.testing import CliRunner, Result

from statehouse import Statehouse
from statehouse import cli as cli_module
from statehouse.cli import cli

Put = Callable[[str, dict[str, object]], int]


@pytest.fixture
def run(daemon_url: str) -> Callable[..., Result]:
    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), env={"STATEHOUSE_ADDRESS": daemon_url, **(env or {})})

    return invoke


def test_health_and_version(run: Callable[..., Result]) -> None:
    result = run("health")
    assert (result.exit_code, result.output) == (0, "ok\n")
    result = run("version")
    assert result.exit_code == 0
    assert result.output.startswith("version: ") and "\ngit_sha: " in result.output


def test_address_option_wins_over_the_environment(run: Callable[..., Result], daemon_url: str) -> None:
    result = run("--address", daemon_url, "health", env={"STATEHOUSE_ADDRESS": "127.0.0.1:1"})
    assert result.exit_code == 0


def test_get(run: Callable[..., Result], agent: str, put: Put) -> None:
    ts = put("memory", {"fact": "Paris", "n": 1})
    result = run("get", agent, "memory")
    assert result.exit_code == 0
    assert result.output == f'key:       memory\nversion:   1\ncommit_ts: {ts}\nvalue:     {{"fact":"Paris","n":1}}\n'
    result = run("get", agent, "memory", "--json-output")
    assert json.loads(result.stdout) == {
        "namespace": "default",
        "agent_id": agent,
        "key": "memory",
        "exists": True,
        "version": 1,
        "commit_ts": ts,
        "value": {"fact": "Paris", "n": 1},
    }
    pretty = run("get", agent, "memory", "--pretty")
    assert '"fact": "Paris"' in pretty.output and pretty.output.count("\n") > 4


def test_get_of_a_missing_key_fails_with_one_line(run: Callable[..., Result], agent: str) -> None:
    result = run("get", agent, "nope")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "does not exist" in result.output and "KEY_NOT_FOUND" in result.output


def test_get_in_another_namespace(run: Callable[..., Result], daemon_url: str, agent: str) -> None:
    with Statehouse(url=daemon_url, namespace="ops") as client, client.begin_transaction() as tx:
        tx.write(agent, "k", {"v": 1})
    assert run("get", agent, "k").exit_code == 1
    result = run("get", agent, "k", "--namespace", "ops")
    assert (result.exit_code, result.output.splitlines()[-1]) == (0, 'value:     {"v":1}')


def test_keys(run: Callable[..., Result], client: Statehouse, agent: str) -> None:
    with client.begin_transaction() as tx:
        for key in ["b", "a", "step/2", "step/1"]:
            tx.write(agent, key, {"k": key})
    assert run("keys", agent).output == "a\nb\nstep/1\nstep/2\n"
    assert run("keys", agent, "--prefix", "step/").output == "step/1\nstep/2\n"


def test_replay(run: Callable[..., Result], client: Statehouse, agent: str, put: Put) -> None:
    stamps = [put(f"k{i}", {"i": i}) for i in range(3)]
    lines = run("replay", agent).output.splitlines()
    assert [line.split("  ")[1:5] for line in lines] == [
        [f"agent={agent}", "WRITE", f"key=k{i}", "v=1"] for i in range(3)
    ]
    assert lines == list(client.replay_pretty(agent))
    assert len(run("replay", agent, "--limit", "2").output.splitlines()) == 2
    ranged = run("replay", agent, "--start-ts", str(stamps[1]), "--end-ts", str(stamps[1]), "--json")
    [event] = [json.loads(line) for line in ranged.output.splitlines()]
    assert (event["commit_ts"], event["agent_id"], event["operations"]) == (
        stamps[1],
        agent,
        [{"key": "k1", "value": {"i": 1}, "version": 1}],
    )
    verbose = run("replay", agent, "--verbose").output.splitlines()
    assert all("  txn=" in line and "  payload: " in line for line in verbose)


def test_tail(run: Callable[..., Result], agent: str, put: Put) -> None:
    for i in range(5):
        put(f"k{i}", {"i": i})
    lines = run("tail", agent, "-n", "2").output.splitlines()
    assert [line.split("  ")[3] for line in lines] == ["key=k3", "key=k4"]
    assert run("tail", agent).output.count("\n") == 5


def _statehousectl(*args: str) -> subprocess.Popen[str]:
    """The installed console script, as a user runs it."""
    script = Path(sys.executable).parent / "statehousectl"
    return subprocess.Popen([str(script), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


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
        assert err.count("\n") == 1 and err.startswith("Error: connection to the Statehouse daemon")
    finally:
        follower.kill()
        follower.communicate()


def test_dump_json_and_text(run: Callable[..., Result], client: Statehouse, agent: str, tmp_path: Path) -> None:
    with client.begin_transaction() as tx:
        tx.write(agent, "a", {"v": 1, "s": "é"})
        tx.write(agent, "b/c", {"nested": {"x": [1, 2]}})
    result = run("dump", agent)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "namespace": "default",
        "agent_id": agent,
        "state": {
            "a": {"value": {"v": 1, "s": "é"}, "version": 1, "commit_ts": tx.commit_ts},
            "b/c": {"value": {"nested": {"x": [1, 2]}}, "version": 1, "commit_ts": tx.commit_ts},
        },
    }
    out = tmp_path / "dump.txt"
    result = run("dump", agent, "-o", str(out), "--format", "text")
    assert result.exit_code == 0
    assert out.read_text(encoding="utf-8").splitlines() == [
        f'a\tv=1\tcommit_ts={tx.commit_ts}\t{{"s":"é","v":1}}',
        f'b/c\tv=1\tcommit_ts={tx.commit_ts}\t{{"nested":{{"x":[1,2]}}}}',
    ]
    empty = run("dump", "agent-with-nothing")
    assert json.loads(empty.stdout)["state"] == {}


def test_dump_shows_a_progress_bar_only_on_a_terminal(
    run: Callable[..., Result], put: Put, agent: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    put("a", {"v": 1})
    assert "dumping" not in run("dump", agent).stderr  # CliRunner's stderr is not a terminal
    monkeypatch.setattr(cli_module, "_stderr_is_tty", lambda: True)
    result = run("dump", agent)
    assert result.stderr.startswith("dumping 1 keys")  # click draws only the label on a non-terminal file
    assert json.loads(result.stdout)["state"]["a"]["value"] == {"v": 1}  # stdout stays clean


def test_inspect(run: Callable[..., Result], client: Statehouse, agent: str, put: Put) -> None:
    put("a", {"v": 1})
    put("a", {"v": 2})
    with client.begin_transaction() as tx:
        tx.delete(agent, "a")
        tx.write(agent, "b", {"v": 3})
    summary = json.loads(run("inspect", agent, "--json").output)
    assert {k: summary[k] for k in ("keys", "events", "writes", "deletes")} == {
        "keys": 1,
        "events": 3,
        "writes": 3,
        "deletes": 1,
    }
    assert summary["last"]["commit_ts"] == tx.commit_ts
    assert summary["records"] == [{"key": "b", "version": 1, "commit_ts": tx.commit_ts, "bytes": len('{"v":3}')}]
    text = run("inspect", agent).output
    assert "keys:      1" in text and "events:    3 (3 writes, 1 deletes)" in text


def test_failures_are_one_line_with_a_non_zero_exit(refused: str = "127.0.0.1:1") -> None:
    result = CliRunner().invoke(cli, ["--address", refused, "health"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert result.output.startswith("Error: connection to the Statehouse daemon at http://127.0.0.1:1 failed")
    assert "Traceback" not in result.output


def test_debug_shows_the_exception(refused: str = "127.0.0.1:1") -> None:
    result = CliRunner().invoke(cli, ["--debug", "--address", refused, "keys", "a"])
    assert result.exit_code == 1
    assert type(result.exception).__name__ == "ConnectionError"


def test_usage_errors_exit_2(run: Callable[..., Result]) -> None:
    assert run("get", "only-agent").exit_code == 2
    assert run("dump", "a", "--format", "xml").exit_code == 2
