"""The latency trace: off without its variable, and what a run keeps is what the bench reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.sensor.latency_trace import ENV, LatencyTrace, Stages, read_trace


def test_off_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert LatencyTrace.from_env() is None


def test_blocks_are_written_at_close_and_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "trace"
    monkeypatch.setenv(ENV, str(path))
    trace = LatencyTrace.from_env()
    assert trace is not None
    first, second = Stages(1, 2, 3, 4), Stages(10, 20, 30, 40)
    trace.add(first)
    trace.add(second)
    assert not path.exists()  # nothing is written on the event path
    trace.close()
    again = LatencyTrace(str(path))  # a second run appends
    again.add(Stages(5, 6, 7, 8))
    again.close()
    assert read_trace(str(path)) == [first, second, Stages(5, 6, 7, 8)]
