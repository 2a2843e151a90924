"""docs/engine.md's runnable example runs and prints what the page says it prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.privileged


def example() -> str:
    with open(os.path.join(REPO, "docs", "engine.md")) as f:
        page = f.read()
    section = page.split("## A runnable example", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "docs/engine.md lost its example"
    return match.group(1)


def test_the_example_runs() -> None:
    env = {**os.environ, "PYTHONPATH": os.path.join(REPO, "tests", "helpers")}
    result = subprocess.run(
        [sys.executable, "-c", example()],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    first, second, third = result.stdout.splitlines()
    assert re.fullmatch(r"127\.0\.0\.1:\d+/busybox:latest sha256:[0-9a-f]{12}", first)
    assert second == "0 ['hello from demo']"
    assert third == "[('demo', 'exited', 0)]"
