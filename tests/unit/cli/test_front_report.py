"""The end-of-run report on stderr: aligned labels, and a warning when the probe lost events."""

from __future__ import annotations

import pytest

from bastion.cli.front.report import write_statistics
from bastion.sensor.live import statistics


def test_report_lines_and_lost_events_warning(capsys: pytest.CaptureFixture[str]) -> None:
    write_statistics(statistics({"events written": 5, "dropped_ring_full": 2}))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "statistics:\n"
        "  events written              5\n"
        "  dropped (ring buffer full)  2\n"
        "warning: 2 events were lost (ring buffer full); "
        "capture fewer events (--events) or fewer containers\n"
    )


def test_report_without_losses_has_no_warning(capsys: pytest.CaptureFixture[str]) -> None:
    write_statistics(statistics({"produced": 1, "dropped_ring_full": 0}))
    assert "warning" not in capsys.readouterr().err
