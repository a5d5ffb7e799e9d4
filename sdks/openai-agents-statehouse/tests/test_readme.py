"""The README's complete example runs as written (pointed at the test daemon).

It runs in this process (``runpy``), not a new one: importing ``agents`` costs seconds, which
this suite has already paid.
"""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_readme_example_runs(daemon_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    quick_start, program = BLOCKS
    assert len(quick_start.strip().splitlines()) == 5
    script = tmp_path / "example.py"
    script.write_text(program.replace("localhost:50051", daemon_url), encoding="utf-8")
    runpy.run_path(str(script), run_name="__main__")
    assert capsys.readouterr().out.splitlines() == [
        "['What is the capital of France?', 'Paris.']",
        "undo: Paris.",
        "latest: [{'role': 'user', 'content': 'What is the capital of France?'}]",
    ]
