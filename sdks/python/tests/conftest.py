"""Fixtures: the real daemon (or STATEHOUSE_TEST_URL), clients, unique agent ids."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _daemon import Daemon

from statehouse import Statehouse

# daemon_url, client, aclient
pytest_plugins = ["_fixtures"]


@pytest.fixture
def own_daemon(tmp_path: Path) -> Iterator[Daemon]:
    """A daemon of the test's own (to kill and restart), on a fresh data dir. Not started yet."""
    daemon = Daemon(tmp_path / "data")
    try:
        yield daemon
    finally:
        daemon.kill()


@pytest.fixture
def agent() -> str:
    """An agent id no other test uses (the shared daemon keeps every test's data)."""
    return f"agent-{uuid.uuid4().hex[:12]}"


def write(client: Statehouse, agent_id: str, key: str, value: dict[str, object]) -> int:
    with client.begin_transaction() as tx:
        tx.write(agent_id, key, value)
    assert tx.commit_ts is not None
    return tx.commit_ts


@pytest.fixture
def put(client: Statehouse, agent: str) -> object:
    """``put(key, value)`` commits one write for the test's agent and returns its commit_ts."""
    return lambda key, value: write(client, agent, key, value)
