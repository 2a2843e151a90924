"""The state's dispatch is derived from the event tables' flag and handler columns."""

from __future__ import annotations

import pytest

from bastion.sensor.capture.scap_events import latest
from bastion.sensor.events.model import Direction, EventFlag
from bastion.sensor.events.schema import EVENTS, EventSpec
from bastion.sensor.state import apply, kinds
from bastion.sensor.state.fd_use import acts_on_fd, uses_fd

ENTER, EXIT = Direction.ENTER, Direction.EXIT


@pytest.mark.parametrize("spec", EVENTS, ids=lambda e: e.name)
def test_live_rows_agree_with_libscaps_newest_exit_row(spec: EventSpec) -> None:
    """One event, one behaviour: a live event and the .scap event of the same name carry the
    same flags and handler, so a replay and the live sensor update the state alike."""

    scap = latest(spec.name, EXIT)
    if scap is None:  # bastion's own event (pivot_root) or one libscap has not got
        return
    assert (spec.flags, spec.handler) == (scap.flags, scap.handler)


def test_flags_reach_the_fd_gate_by_direction() -> None:
    # libs flags fchmodat's exit only (its enter carries no parameter), close both sides
    assert uses_fd("fchmodat", EXIT) and not uses_fd("fchmodat", ENTER)
    assert uses_fd("close", EXIT) and uses_fd("close", ENTER)
    assert acts_on_fd("openat", EXIT) and not uses_fd("openat", EXIT)  # creates, not uses
    assert not acts_on_fd("munmap", EXIT)  # an fd-less memory call
    assert "switch" in apply.NOT_SYSCALLS and "openat" not in apply.NOT_SYSCALLS
    assert {"procexit"} == apply.ALWAYS


def test_handler_keys_fold_to_the_dispatch() -> None:
    assert {"clone", "clone3", "fork", "vfork"} == apply.CLONE_EVENTS
    assert set(apply.META_HANDLERS) == {"container", "useradded", "groupadded"}
    assert apply.HANDLERS["openat2"] is apply.HANDLERS["creat"]  # both key "open"
    assert apply.HANDLERS["eventfd2"] is apply.THREAD_KEYS["eventfd"]
    assert "unlinkat" not in apply.HANDLERS  # no key: changes no table


def test_a_key_the_state_lacks_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kinds, "handler_keys", lambda: {"frobnicate": "frob"})
    with pytest.raises(KeyError, match="frobnicate"):
        apply._resolve()


def test_two_keys_for_one_name_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [("x", EXIT, 0, "open"), ("x", ENTER, 0, "close")]
    monkeypatch.setattr(kinds, "rows", lambda: iter(rows))
    with pytest.raises(ValueError, match="two handlers"):
        kinds.handler_keys()


def test_flag_text() -> None:
    assert EventFlag.text(EventFlag.USES_FD | EventFlag.DESTROYS_FD) == "USES_FD|DESTROYS_FD"
    assert EventFlag.text(0) == ""
