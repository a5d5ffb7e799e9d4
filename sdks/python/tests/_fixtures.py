"""Fixtures shared by the Python packages' suites: the real daemon (or STATEHOUSE_TEST_URL) and clients.

``from _fixtures import aclient, client, daemon_url`` in a conftest.py registers them.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from _daemon import Daemon

from statehouse import AsyncStatehouse, Statehouse

__all__ = ["aclient", "client", "daemon_url"]


@pytest.fixture(scope="session")
def daemon_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The shared daemon: STATEHOUSE_TEST_URL if set, else one started for the session."""
    if url := os.environ.get("STATEHOUSE_TEST_URL"):
        yield url
        return
    daemon = Daemon(tmp_path_factory.mktemp("shared") / "data").start()
    try:
        yield daemon.url
    finally:
        daemon.stop()


@pytest.fixture
def client(daemon_url: str) -> Iterator[Statehouse]:
    with Statehouse(url=daemon_url) as c:
        yield c


@pytest.fixture
async def aclient(daemon_url: str) -> AsyncIterator[AsyncStatehouse]:
    async with AsyncStatehouse(url=daemon_url) as c:
        yield c
