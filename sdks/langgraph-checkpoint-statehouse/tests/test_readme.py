"""The README's complete example runs as written (pointed at the test daemon)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_readme_example_runs(daemon_url: str, tmp_path: Path) -> None:
    quick_start, program, _store = BLOCKS
    assert len(quick_start.strip().splitlines()) == 5
    script = tmp_path / "example.py"
    script.write_text(program.replace("localhost:50051", daemon_url), encoding="utf-8")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "['start', 'plan', 'act']"
    assert lines[1].startswith("latest checkpoint:") and lines[1].endswith("step 2")
    assert lines[2] == "history: [2, 1, 0, -1]"


def test_readme_store_example_runs(daemon_url: str, tmp_path: Path) -> None:
    script = tmp_path / "store.py"
    script.write_text(BLOCKS[2].replace("localhost:50051", daemon_url), encoding="utf-8")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("{'theme': 'dark'} [Item(namespace=['users', 'alice'], key='prefs'")
