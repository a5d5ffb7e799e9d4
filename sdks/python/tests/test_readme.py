"""The README's Python examples run as written, as scripts (pointed at the test daemon instead of localhost:50051)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"
ALL_BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
# The quick start and asyncio examples; the TLS one (https://localhost:50443) runs in test_auth_tls.py,
# the failover one (10.0.0.1, 10.0.0.2) against a cluster in test_failover.py.
BLOCKS = [block for block in ALL_BLOCKS if "https://localhost:50443" not in block and "10.0.0.1" not in block]


def test_readme_has_the_sync_async_and_tls_examples() -> None:
    assert len(BLOCKS) == 2
    assert all('url="localhost:50051"' in block for block in BLOCKS)
    assert len(ALL_BLOCKS) == 4


@pytest.mark.parametrize("block", BLOCKS, ids=["quickstart", "asyncio"])
def test_readme_example_runs(block: str, daemon_url: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(block.replace("localhost:50051", daemon_url), encoding="utf-8")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout
    if "count_visit" in block:
        assert run.stdout.startswith("ok\n")
        assert "agent=agent-1  TOOL   key=tool/search           v=" in run.stdout
