"""docs/events.md is generated from the event table and must not drift from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.cli.front.main import main
from bastion.sensor.events import docs
from bastion.sensor.events.schema import EVENTS

REPO = Path(__file__).resolve().parents[3]


def test_docs_events_md_is_the_table() -> None:
    on_disk = (REPO / "docs" / "events.md").read_text()
    assert on_disk == docs.markdown(), (
        "docs/events.md is stale: run `python -m bastion.sensor.events.docs > docs/events.md`"
    )


def test_every_event_and_param_is_listed() -> None:
    text = docs.text()
    for spec in EVENTS:
        line = next(line for line in text.splitlines() if line.split()[1] == spec.name)
        for param in spec.params:
            assert f"{param.name}:{param.type}" in line


def test_bastion_events_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["events", "--list"]) == 0
    out = capsys.readouterr().out
    assert out == docs.text()
    assert "openat" in out and "(opt-in)" in out
