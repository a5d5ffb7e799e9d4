"""Online backup and restore against the real daemon: ``statehousectl backup`` under concurrent
writes, ``statehoused restore``, and the restored daemon compared with the source's as-of state
and replay at the backup's commit_ts. Also: an interrupted backup is refused, and going back in a
store's history needs the engine's accept-rollback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from _daemon import MAIN, NODE, Daemon

from statehouse import Statehouse

pytestmark = pytest.mark.timeout(120)
AGENTS = [f"backup-agent-{i}" for i in range(4)]


def _ctl(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "statehouse.cli", "--address", url, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _restore(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(NODE), str(MAIN), "restore", *args], capture_output=True, text=True, timeout=60)


def _commit_ts(daemon: Daemon) -> int:
    ready = daemon.data_dir.parent / f"{daemon.data_dir.name}.ready-{daemon.starts}.json"
    return int(json.loads(ready.read_text())["commitTs"])


def _load(client: Statehouse, commits: int, tag: str, value_bytes: int = 64) -> None:
    pad = "x" * value_bytes
    for i in range(commits):
        agent = AGENTS[i % len(AGENTS)]
        with client.begin_transaction() as tx:
            tx.write(agent, f"k{i % 11}", {"tag": tag, "i": i, "pad": pad})
            tx.write(agent, f"k{(i + 5) % 11}", {"tag": tag, "i": i, "other": True})
            if i % 7 == 0:
                tx.delete(agent, f"k{(i + 2) % 11}")


class _Writers:
    """Threads committing two-key transactions until stopped; records every acknowledged commit_ts."""

    def __init__(self, url: str, threads: int = 4) -> None:
        self.url = url
        self.stop = threading.Event()
        self.acked: list[tuple[int, str, str, int]] = []
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def _run(self, n: int) -> None:
        try:
            with Statehouse(url=self.url) as client:
                i = 0
                while not self.stop.is_set():
                    agent = AGENTS[(n + i) % len(AGENTS)]
                    with client.begin_transaction() as tx:
                        tx.write(agent, f"w{n}", {"writer": n, "i": i})
                        tx.write(agent, f"w{n}-twin", {"writer": n, "i": i})
                    assert tx.commit_ts is not None
                    self.acked.append((tx.commit_ts, agent, f"w{n}", i))
                    i += 1
        except BaseException as err:  # reported by the test
            self.errors.append(err)

    def __enter__(self) -> _Writers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


def _state(client: Statehouse, agent: str) -> list[tuple[object, ...]]:
    return [(r.key, r.value, r.version, r.commit_ts) for r in client.scan_prefix(agent, "")]


def _state_as_of(client: Statehouse, agent: str, ts: int) -> list[tuple[object, ...]]:
    return [(r.key, r.value, r.version, r.commit_ts) for r in client.get_agent_state_as_of(agent, ts)]


def _history(client: Statehouse, agent: str, end_ts: int | None = None) -> list[object]:
    return [
        (e.commit_ts, e.txn_id, [(op.key, op.value) for op in e.operations])
        for e in client.replay(agent, end_ts=end_ts)
    ]


def test_backup_under_concurrent_writes_restores_exactly_the_state_and_history_at_its_commit_ts(
    tmp_path: Path,
) -> None:
    source = Daemon(tmp_path / "source").start()
    restored: Daemon | None = None
    try:
        with Statehouse(url=source.url) as client:
            _load(client, 400, "preload", value_bytes=2048)
        with _Writers(source.url) as writers:
            time.sleep(0.3)
            before = len(writers.acked)
            done = _ctl(source.url, "backup", "--to", str(tmp_path / "backup"), "--json")
            during = len(writers.acked) - before
            time.sleep(0.3)
        assert done.returncode == 0, done.stderr
        assert not writers.errors, writers.errors
        assert during > 0, "no commit was acknowledged while the backup ran"
        summary = json.loads(done.stdout)
        ts = summary["commit_ts"]
        assert "entries" in done.stderr  # progress on stderr
        assert max(t for t, *_ in writers.acked) > ts, "the writers went on after the backup's commit_ts"

        out = _restore("--from", str(tmp_path / "backup"), "--data-dir", str(tmp_path / "restored"))
        assert out.returncode == 0, out.stderr
        assert f"commit_ts {ts}" in out.stdout
        restored = Daemon(tmp_path / "restored").start()
        assert _commit_ts(restored) == ts
        with Statehouse(url=source.url) as src, Statehouse(url=restored.url) as dst:
            for agent in AGENTS:
                assert _state(dst, agent) == _state_as_of(src, agent, ts)
                assert _history(dst, agent) == _history(src, agent, end_ts=ts)
            # Every acknowledged commit up to the backup's commit_ts is there, whole; none after it.
            restored_events = {e.commit_ts: e for agent in AGENTS for e in dst.replay(agent)}
            assert max(restored_events) == ts
            for commit_ts, agent, key, i in writers.acked:
                event = restored_events.get(commit_ts)
                if commit_ts > ts:
                    assert event is None, commit_ts
                    continue
                assert event is not None, commit_ts
                assert event.agent_id == agent
                assert [(op.key, op.value) for op in event.operations] == [
                    (key, {"writer": int(key[1:]), "i": i}),
                    (f"{key}-twin", {"writer": int(key[1:]), "i": i}),
                ]
    finally:
        source.stop()
        if restored is not None:
            restored.stop()


def test_an_interrupted_backup_is_refused_and_going_back_in_history_needs_accept_rollback(tmp_path: Path) -> None:
    source = Daemon(tmp_path / "source").start()
    try:
        with Statehouse(url=source.url) as client:
            _load(client, 200, "old", value_bytes=24576)
        # SIGKILL the backup as soon as its first data file appears: ~15 MB are still to come.
        partial = tmp_path / "partial"
        proc = subprocess.Popen(
            [sys.executable, "-m", "statehouse.cli", "--address", source.url, "backup", "--to", str(partial)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not (partial / "data-000001.shb").exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert (partial / "data-000001.shb").exists()
        assert not (partial / "manifest.json").exists(), "the backup finished before the kill: make the data larger"
        out = _restore("--from", str(partial), "--data-dir", str(tmp_path / "never"))
        assert out.returncode == 1
        assert "incomplete" in out.stderr
        assert not (tmp_path / "never" / "db").exists()

        done = _ctl(source.url, "backup", "--to", str(tmp_path / "backup"), "--json", "--quiet")
        assert done.returncode == 0, done.stderr
        old_ts = json.loads(done.stdout)["commit_ts"]
        # A damaged data file (one byte flipped) is refused by its checksum.
        damaged = tmp_path / "damaged"
        damaged.mkdir()
        for f in (tmp_path / "backup").iterdir():
            (damaged / f.name).write_bytes(f.read_bytes())
        data = bytearray((damaged / "data-000001.shb").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (damaged / "data-000001.shb").write_bytes(bytes(data))
        out = _restore("--from", str(damaged), "--data-dir", str(tmp_path / "never"))
        assert out.returncode == 1
        assert "SHA-256" in out.stderr or "backup" in out.stderr

        with Statehouse(url=source.url) as client:
            _load(client, 20, "newer")
        source.stop()
        newest = _commit_ts_after_restart(source)

        args = ["--from", str(tmp_path / "backup"), "--data-dir", str(source.data_dir)]
        out = _restore(*args)
        assert out.returncode == 1
        assert "not empty" in out.stderr or "already holds a store" in out.stderr
        out = _restore(*args, "--replace")
        assert out.returncode == 1
        assert "accept-rollback" in out.stderr
        assert _commit_ts_after_restart(source) == newest, "a refused restore changed the data dir"

        out = _restore(*args, "--replace", "--recovery-mode", "accept-rollback")
        assert out.returncode == 0, out.stderr
        assert "rollback accepted" in out.stdout
        source.start()
        assert _commit_ts(source) == old_ts
        with Statehouse(url=source.url) as client:
            assert all(r.value["tag"] == "old" for a in AGENTS for r in client.scan_prefix(a, ""))  # type: ignore[index]
    finally:
        source.stop()


def _commit_ts_after_restart(daemon: Daemon) -> int:
    daemon.start()
    try:
        return _commit_ts(daemon)
    finally:
        daemon.stop()


def test_backup_needs_an_admin_key_when_the_daemon_checks_credentials(tmp_path: Path) -> None:
    data = tmp_path / "auth"
    data.mkdir()
    bootstrap = subprocess.run(
        [str(NODE), str(MAIN), "auth", "bootstrap", "--data-dir", str(data)], capture_output=True, text=True, timeout=60
    )
    assert bootstrap.returncode == 0, bootstrap.stderr
    token = bootstrap.stdout.strip()
    daemon = Daemon(data, STATEHOUSE_AUTH="required").start()
    try:
        refused = _ctl(daemon.url, "backup", "--to", str(tmp_path / "refused"), "--quiet")
        assert refused.returncode == 1
        assert "UNAUTHENTICATED" in refused.stderr
        assert not (tmp_path / "refused" / "manifest.json").exists()
        done = subprocess.run(
            [sys.executable, "-m", "statehouse.cli", "--address", daemon.url, "backup", "--to", str(tmp_path / "ok")],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "STATEHOUSE_API_KEY": token},
        )
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "ok" / "manifest.json").exists()
    finally:
        daemon.stop()
