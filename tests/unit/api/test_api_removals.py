"""What the API keeps of removed containers (containers.Removals): bounded, and never what a
wait still needs."""

from __future__ import annotations

from bastion.api.containers import KEPT, Removals


def test_statuses_keep_the_newest() -> None:
    removals = Removals()
    for n in range(KEPT + 10):
        removals.ended(f"c{n}", n % 256)
    assert len(removals.statuses) == KEPT
    assert f"c{KEPT + 9}" in removals.statuses and "c0" not in removals.statuses
    assert removals.statuses[f"c{KEPT + 9}"] == (KEPT + 9) % 256


def test_events_drop_only_set_ones() -> None:
    removals = Removals()
    pending = removals.event("still-running")
    for n in range(KEPT * 2):
        removals.event(f"c{n}").set()
    assert len(removals.done) <= KEPT
    assert removals.event("still-running") is pending and not pending.is_set()
    assert removals.event(f"c{KEPT * 2 - 1}").is_set()  # the newest ended one is kept
