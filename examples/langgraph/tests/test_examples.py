"""Runs the examples as their README says, as separate processes, against the real daemon (fsync on),
with the crashes they are about: SIGKILL of the agent process, SIGKILL of the daemon."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _daemon import Daemon

HERE = Path(__file__).resolve().parents[1]


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path / "data", STATEHOUSE_FSYNC_ON_COMMIT="1")
    try:
        yield d.start()
    finally:
        d.kill()


def run(script: str, *args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, str(HERE / script), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_agent_killed_in_step_3_resumes_there_and_repeats_nothing(daemon: Daemon) -> None:
    thread = f"agent-{uuid.uuid4().hex[:8]}"
    args = ["--url", daemon.url, "--thread", thread]
    seen = []
    command = [sys.executable, str(HERE / "resumable_agent.py"), *args, "--hang-at", "3"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as agent:
        assert agent.stdout is not None
        for line in agent.stdout:
            seen.append(line.strip())
            if line.strip() == "started read":
                break
        agent.send_signal(signal.SIGKILL)
        agent.wait(timeout=10)
    assert seen == ["starting", "started plan", "started search", "started read"]

    out = run("resumable_agent.py", *args)
    assert out[0] == "resuming at read after 2 finished steps"
    assert out[1:4] == ["started read", "started summarize", "started answer"]  # plan and search not rerun
    assert [line.split(":")[0] for line in out[4:]] == ["plan", "search", "read", "summarize", "answer"]
    assert out[-1] == "answer: Paris"


def test_the_approval_waits_through_a_daemon_sigkill_and_replay_shows_every_decision(daemon: Daemon) -> None:
    thread = f"approval-{uuid.uuid4().hex[:8]}"
    args = ["--url", daemon.url, "--thread", thread]
    assert run("approval_flow.py", *args, "propose") == ["waiting for approval: refund $40 to order 1234"]

    daemon.kill()  # SIGKILL between the proposal and the decision
    daemon.start()

    assert run("approval_flow.py", *args, "decide", "approve") == [
        "found pending proposal: refund $40 to order 1234",
        "executed: refund $40 to order 1234",
    ]
    history = run("replay.py", *args)
    assert history[0].startswith(f"thread {thread}: ")
    text = "\n".join(history)
    for expected in [
        'write  proposal       "refund $40 to order 1234"',
        "write  __interrupt__  [\"Interrupt(value={'question': 'approve this action?'",
        'write  __resume__     "approve"',
        'write  decision       "approve"',
        'write  outcome        "executed: refund $40 to order 1234"',
    ]:
        assert expected in text, text
    commits = [int(line.split()[0].split("=")[1]) for line in history if line.startswith("commit_ts=")]
    assert commits == sorted(commits) and len(set(commits)) == len(commits)
