"""Starts, kills and restarts the real daemon process for the tests (no mocks)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
NODE = REPO / "node_modules" / ".bin" / "node"
MAIN = REPO / "apps" / "daemon" / "dist" / "bundle" / "statehoused.js"
READY_TIMEOUT_S = 30.0


class Daemon:
    """One daemon on a data dir. ``start()`` picks a free port the first time and keeps it across restarts."""

    def __init__(self, data_dir: Path, *, scheme: str = "http", **env: str) -> None:
        self.data_dir = data_dir
        self.scheme = scheme  # "https" for a daemon started with STATEHOUSE_TLS_CERT/KEY
        self.env = env
        self.address: str | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        self.starts = 0

    @property
    def url(self) -> str:
        assert self.address is not None, "daemon never started"
        return f"{self.scheme}://{self.address}"

    def start(self, **extra_env: str) -> Daemon:
        if not MAIN.exists():
            raise RuntimeError(f"{MAIN} is missing: build the daemon first (npx nx run daemon:build)")
        assert self.process is None, "already running"
        self.starts += 1
        ready = self.data_dir.parent / f"{self.data_dir.name}.ready-{self.starts}.json"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("STATEHOUSE_")},
            "STATEHOUSE_LISTEN_ADDR": self.address or "127.0.0.1:0",
            "STATEHOUSE_DATA_DIR": str(self.data_dir),
            "STATEHOUSE_READY_FILE": str(ready),
            "STATEHOUSE_LOG_LEVEL": "warn",
            "STATEHOUSE_FSYNC_ON_COMMIT": "0",
            **self.env,
            **extra_env,
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(NODE), str(MAIN)], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"daemon did not become ready; log:\n{self.log_tail()}")
            time.sleep(0.02)
        self.address = json.loads(ready.read_text())["address"]
        return self

    def kill(self) -> None:
        """SIGKILL (never a graceful stop) and reap."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        """SIGTERM, letting open calls drain; SIGKILL if it takes too long."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def wait_exit(self, timeout: float = 10) -> int:
        """Waits for the process to end by itself (a failpoint kills it)."""
        assert self.process is not None
        code = self.process.wait(timeout=timeout)
        self.process = None
        return code

    def restart(self, **extra_env: str) -> Daemon:
        self.kill()
        return self.start(**extra_env)

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
