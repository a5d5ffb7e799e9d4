"""The README's Python examples run as written (pointed at the test daemon instead of localhost:50051)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_readme_has_the_sync_and_async_examples() -> None:
    assert len(BLOCKS) == 2
    assert all('url="localhost:50051"' in block for block in BLOCKS)


@pytest.mark.parametrize("block", BLOCKS, ids=["quickstart", "asyncio"])
def test_readme_example_runs(block: str, daemon_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(block.replace("localhost:50051", daemon_url), str(README), "exec"), {"__name__": "__main__"})
    output = capsys.readouterr().out
    assert output
    if "quickstart" in block or "count_visit" in block:
        assert output.startswith("ok\n")
        assert "agent=agent-1  TOOL  key=tool/search  v=" in output
