"""Fixtures: the real daemon (started on port 0 for the session, or STATEHOUSE_TEST_URL) and clients."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from _daemon import Daemon
from statehouse import AsyncStatehouse, Statehouse


@pytest.fixture(scope="session")
def daemon_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
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
