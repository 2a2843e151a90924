"""The lifecycle predicates, as the runtime-spec and runc define them."""

from __future__ import annotations

import pytest

from bastion.runtime.status import Status, can_delete, can_exec, can_kill, can_start

ALL = [Status.CREATING, Status.CREATED, Status.RUNNING, Status.PAUSED, Status.STOPPED]


@pytest.mark.parametrize("status", ALL)
def test_start_only_when_created(status: str) -> None:
    assert can_start(status) == (status == Status.CREATED)


@pytest.mark.parametrize("status", ALL)
def test_kill_when_alive(status: str) -> None:
    assert can_kill(status) == (status in (Status.CREATED, Status.RUNNING, Status.PAUSED))


@pytest.mark.parametrize("status", ALL)
def test_delete_without_force(status: str) -> None:
    assert can_delete(status, force=False) == (status in (Status.STOPPED, Status.CREATED))
    assert can_delete(status, force=True)


@pytest.mark.parametrize("status", ALL)
def test_exec_needs_a_live_container(status: str) -> None:
    assert can_exec(status) == (status in (Status.CREATED, Status.RUNNING))
