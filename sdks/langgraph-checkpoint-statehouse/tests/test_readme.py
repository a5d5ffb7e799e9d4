"""The README's examples run as written (pointed at the test daemon), in this process (``runpy``)."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def run(block: str, daemon_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    script = tmp_path / "example.py"
    script.write_text(block.replace("localhost:50051", daemon_url), encoding="utf-8")
    runpy.run_path(str(script), run_name="__main__")
    return capsys.readouterr().out.splitlines()


def test_readme_example_runs(daemon_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    quick_start, program, _store = BLOCKS
    assert len(quick_start.strip().splitlines()) == 5
    lines = run(program, daemon_url, tmp_path, capsys)
    assert lines[0] == "['start', 'plan', 'act']"
    assert lines[1].startswith("latest checkpoint:") and lines[1].endswith("step 2")
    assert lines[2] == "history: [2, 1, 0, -1]"


def test_readme_store_example_runs(daemon_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(BLOCKS[2], daemon_url, tmp_path, capsys)
    assert out[0].startswith("{'theme': 'dark'} [Item(namespace=['users', 'alice'], key='prefs'")
