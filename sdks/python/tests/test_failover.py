"""Failover against real daemons: two statehoused in cluster mode over one real PostgreSQL
(Debian's, started through the repo's ``@statehouse/test-services``). The client is given both
addresses; the daemon in use is SIGKILLed while threads commit. Every acknowledged commit is
present exactly once, and calls go on through the other daemon."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _daemon import NODE, REPO, Daemon

from statehouse import AsyncStatehouse, Statehouse

# Starts PostgreSQL with the repo's helper, prints its address, stops it when stdin closes.
_POSTGRES = """
import { ensurePostgresInstalled, startPostgres } from "./libs/test-services/src/index.ts";
ensurePostgresInstalled((m) => console.error(`[postgres] ${m}`));
const pg = await startPostgres(process.argv[1]);
console.log(JSON.stringify(pg));
process.stdin.resume();
process.stdin.on("end", async () => { await pg.stop(); process.exit(0); });
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[list[Daemon]]:
    # Not under pytest's tmp dir: PostgreSQL runs as the postgres user and must reach its dirs.
    work = Path(tempfile.mkdtemp(prefix="statehouse-py-failover-"))
    pg = subprocess.Popen(
        [str(NODE), "--input-type=module", "-e", _POSTGRES, str(work)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert pg.stdout is not None and pg.stdin is not None
    daemons: list[Daemon] = []
    try:
        info = json.loads(pg.stdout.readline())
        storage = f"postgres://{info['user']}@{info['host']}:{info['port']}/{info['database']}"
        for i in range(2):
            daemons.append(
                Daemon(work / f"d{i}", STATEHOUSE_STORAGE=storage, STATEHOUSE_POSTGRES_SCHEMA="py_failover").start()
            )
        yield daemons
    finally:
        for daemon in daemons:
            daemon.kill()
        pg.stdin.close()
        pg.wait(timeout=30)
        pg.stdout.close()
        shutil.rmtree(work, ignore_errors=True)


def _check_once(survivor: Daemon, agent: str, acked: dict[str, int]) -> None:
    seen: dict[str, list[int]] = {}
    with Statehouse(survivor.url, "failover") as client:
        for event in client.replay(agent):
            for op in event.operations:
                seen.setdefault(op.key, []).append(event.commit_ts)
    for key, commit_ts in acked.items():
        assert seen.get(key) == [commit_ts], key
    assert all(len(commits) == 1 for commits in seen.values()), "a commit applied twice"


def test_sync_sigkill_of_the_daemon_in_use_mid_commits(cluster: list[Daemon]) -> None:
    first, second = cluster
    agent = f"sync-{uuid.uuid4().hex[:8]}"
    acked: dict[str, int] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []
    with Statehouse([first.url, second.url], "failover") as client:
        assert client.urls == (first.url, second.url)

        def writer(w: int) -> None:
            try:
                for i in range(15):
                    key = f"w{w}-{i}"
                    tx = client.begin_transaction()
                    tx.write(agent, key, {"i": i})
                    commit_ts = tx.commit()
                    with lock:
                        acked[key] = commit_ts
                        if len(acked) == 10 and first.process is not None:
                            first.process.kill()  # SIGKILL while the other threads' commits are in flight
            except BaseException as err:
                errors.append(err)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(acked) == 60
        assert first.process is not None and first.process.wait(timeout=10) != 0
        assert client.get_state(agent, "w0-0").exists  # calls go on, through the survivor
        assert client.url == second.url
    _check_once(second, agent, acked)


async def test_async_comma_separated_address_fails_over_from_a_dead_daemon(cluster: list[Daemon]) -> None:
    first, second = cluster  # the first was killed by the test above, or is killed here
    if first.process is not None and first.process.poll() is None:
        first.process.kill()
        first.process.wait(timeout=10)
    agent = f"async-{uuid.uuid4().hex[:8]}"
    acked: dict[str, int] = {}
    async with AsyncStatehouse(f"{first.url},{second.url}", "failover") as client:
        for i in range(10):
            tx = client.begin_transaction()
            tx.write(agent, f"k{i}", {"i": i})
            acked[f"k{i}"] = await tx.commit()
        assert client.url == second.url
    _check_once(second, agent, acked)


def test_readme_failover_example_runs(cluster: list[Daemon], tmp_path: Path) -> None:
    first, second = cluster  # the first is dead by now: the example fails over to the second
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL) if "10.0.0.1" in b]
    assert first.address is not None and second.address is not None
    script = tmp_path / "failover_example.py"
    script.write_text(
        block.replace("10.0.0.1:50051", first.address).replace("10.0.0.2:50051", second.address), encoding="utf-8"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert f"committed through {second.url}" in done.stdout


def test_refuses_an_empty_address_list() -> None:
    with pytest.raises(ValueError, match="several separated by commas"):
        Statehouse([])
    with pytest.raises(ValueError, match="several separated by commas"):
        Statehouse(" , ")
