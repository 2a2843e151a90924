"""The drop alerter: rate-limited alerts whose counts add up to the counters exactly."""

from __future__ import annotations

import pytest

from bastion.sensor.drops import (
    CHECK_INTERVAL_NS,
    RULE,
    DropAlerter,
    DropAlertSettings,
    DropTally,
)
from bastion.sensor.events.schema import BY_NAME

OPENAT, CLOSE, EXECVE = BY_NAME["openat"].code, BY_NAME["close"].code, BY_NAME["execve"].code
S = 1_000_000_000


def tally(openat: int, close: int = 0, execve: int = 0, cgroup: int = 7) -> DropTally:
    by_code = {c: n for c, n in ((OPENAT, openat), (CLOSE, close), (EXECVE, execve)) if n}
    total = openat + close + execve
    return DropTally(by_code, {cgroup: total} if total else {}, {"ring": total} if total else {})


def test_no_drops_no_alert() -> None:
    alerter = DropAlerter()
    assert alerter.observe(tally(0), 0) is None
    assert alerter.flush(tally(0), S) is None


def test_counts_are_the_delta_since_the_last_alert_and_add_up_at_the_end() -> None:
    names = {7: "abcdef123456"}
    alerter = DropAlerter(
        DropAlertSettings(interval_s=1.0), hostname="h", name_cgroup=lambda c: names.get(c, "host")
    )
    first = alerter.observe(tally(10, 5), 0)
    assert first is not None and first.rule == RULE and first.priority == "Critical"
    assert first.output_fields["n_drops"] == 15
    assert first.output_fields["drops.type.openat"] == 10
    assert first.output_fields["drops.container.abcdef123456"] == 15
    assert first.output_fields["drops.cgroup.7"] == 15
    assert first.output_fields["n_drops_bulk"] == 15
    assert first.output_fields["n_drops_critical"] == 0
    # within the interval: rate-limited, nothing is lost, it waits for the next alert
    assert alerter.observe(tally(20, 9), S // 2) is None
    assert not alerter.due(S // 2) and alerter.due(S)
    second = alerter.observe(tally(30, 9, 2), S)
    assert second is not None
    assert second.output_fields["n_drops"] == 20 + 4 + 2
    assert second.output_fields["n_drops_critical"] == 2
    assert second.output_fields["drops.type.execve"] == 2
    assert second.output_fields["window_start_ns"] == 0
    assert second.output_fields["window_end_ns"] == S
    # the end of the run reports the rest at once, whatever the rate
    last = alerter.flush(tally(31, 9, 2), S + 1)
    assert last is not None and last.output_fields["n_drops"] == 1
    assert alerter.emitted == 31 + 9 + 2
    assert "1 events dropped in the last 0.000s" in last.output


def test_counters_are_read_at_most_every_check_interval() -> None:
    # reading the probe's counters costs per-CPU map look-ups: not after every batch
    alerter = DropAlerter()
    assert alerter.due(0)
    assert alerter.observe(tally(0), 0) is None  # nothing lost: no alert, but checked
    assert not alerter.due(CHECK_INTERVAL_NS - 1)
    assert alerter.due(CHECK_INTERVAL_NS)


def test_disabled_reports_nothing() -> None:
    alerter = DropAlerter(DropAlertSettings(enabled=False))
    assert alerter.observe(tally(5), 0) is None and alerter.flush(tally(5), S) is None
    assert not alerter.due(0)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        DropAlertSettings(priority="loud")
    with pytest.raises(ValueError):
        DropAlertSettings(interval_s=-1)
