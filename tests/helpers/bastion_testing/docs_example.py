"""The runnable example of a docs page, run as the page says (the test helpers on the path)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def example(page: str) -> str:
    """The ```python block under "## A runnable example" of docs/`page`."""
    with open(os.path.join(REPO, "docs", page)) as f:
        text = f.read()
    section = text.split("## A runnable example", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"docs/{page} lost its example"
    return match.group(1)


def run_example(page: str) -> list[str]:
    """Run docs/`page`'s example from the repository and return its output lines; fail with
    its stderr when it fails."""
    env = {**os.environ, "PYTHONPATH": os.path.join(REPO, "tests", "helpers")}
    result = subprocess.run(
        [sys.executable, "-c", example(page)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()
