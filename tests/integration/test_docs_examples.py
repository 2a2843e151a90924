"""The runnable examples of docs/images.md and docs/engine.md run and print what the pages say."""

from __future__ import annotations

import re

import pytest

from bastion_testing.docs_example import run_example

pytestmark = pytest.mark.privileged


def test_the_images_example_runs() -> None:
    first, second = run_example("images.md")
    assert re.fullmatch(
        r"127\.0\.0\.1:\d+/busybox:latest sha256:[0-9a-f]{64} \('/bin/sh',\)", first
    )
    assert second.endswith("True")


def test_the_engine_example_runs() -> None:
    first, second, third = run_example("engine.md")
    assert re.fullmatch(r"127\.0\.0\.1:\d+/busybox:latest sha256:[0-9a-f]{12}", first)
    assert second == "0 ['hello from demo']"
    assert third == "[('demo', 'exited', 0)]"
