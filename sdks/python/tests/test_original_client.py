"""Existing grpcio clients keep working: the original SDK's calls, over gRPC, interoperate with this SDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from statehouse import Operation, Statehouse

HERE = Path(__file__).parent


def test_the_original_grpc_client_and_this_sdk_see_the_same_data(client: Statehouse, agent: str) -> None:
    with client.begin_transaction() as tx:
        tx.write(agent, "from-sdk", {"by": "connect"})
    address = client.url.removeprefix("http://")
    env = {**os.environ, "PYTHONPATH": str(HERE / "_grpc_gen")}
    run = subprocess.run(
        [sys.executable, str(HERE / "_original_client.py"), address, agent],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["health"] == "ok" and seen["version"]
    assert seen["unknown_commit"] == "NOT_FOUND"
    assert seen["from_sdk"] == {"value": {"by": "connect"}, "version": 1, "exists": True}
    assert seen["original_v1"] == {"v": 1}
    assert seen["keys"] == seen["scan"] == ["from-sdk", "original"]
    # The last operation on a key inside a transaction wins: write+delete of "gone" is one delete.
    assert seen["replay"] == [[["from-sdk", True, 1]], [["original", True, 1], ["gone", False, 1]]]

    # ...and this SDK reads what the original client committed.
    state = client.get_state(agent, "original")
    assert (state.value, state.commit_ts) == ({"v": 1}, seen["commit_ts"])
    assert not client.get_state(agent, "never").exists
    last = list(client.replay(agent))[-1]
    assert last.operations == [Operation("original", {"v": 1}, 1), Operation("gone", None, 1)]
