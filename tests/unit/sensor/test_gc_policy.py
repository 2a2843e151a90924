"""The collector's settings around a live event loop (sensor/gc_policy.py)."""

from __future__ import annotations

import gc

from bastion.sensor.gc_policy import YOUNG, event_loop_gc


def test_frozen_and_sized_for_the_loop_then_restored_once_the_last_loop_ends() -> None:
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    kept = [object()]  # tracked objects alive before the loop
    with event_loop_gc():
        assert gc.get_threshold() == (YOUNG, threshold[1], threshold[2])
        assert gc.get_freeze_count() > frozen
        with event_loop_gc():  # a second source in the same process
            pass
        assert gc.get_threshold()[0] == YOUNG  # the outer loop still runs
    assert gc.get_threshold() == threshold
    assert gc.get_freeze_count() == 0  # everything collectable again
    assert kept


def test_undone_when_the_loop_raises() -> None:
    threshold = gc.get_threshold()
    try:
        with event_loop_gc():
            raise RuntimeError("the source failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == threshold
    assert gc.get_freeze_count() == 0
