"""The runtime-spec lifecycle as an explicit state machine (docs/conventions.md §7).

creating -> created -> running -> stopped, plus paused (runc's extension). Each operation has one
predicate, checked first by every `Container` method.
"""

from __future__ import annotations


class Status:
    """Container statuses as the OCI state document spells them (plain str constants)."""

    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


def can_start(status: str) -> bool:
    # runtime-spec "start": must fail unless the container is `created`.
    return status == Status.CREATED


def can_kill(status: str) -> bool:
    # runtime-spec "kill": an error unless the container is `created` or `running` (runc also
    # lets a paused container be signalled).
    return status in (Status.CREATED, Status.RUNNING, Status.PAUSED)


def can_delete(status: str, force: bool) -> bool:
    # runtime-spec "delete": only a `stopped` container; runc also deletes a `created` one
    # (killing its init, whose user program never ran); --force deletes anything.
    return force or status in (Status.STOPPED, Status.CREATED)


def can_pause(status: str) -> bool:
    return status in (Status.RUNNING, Status.CREATED)


def can_resume(status: str) -> bool:
    return status == Status.PAUSED


def can_exec(status: str) -> bool:
    return status in (Status.CREATED, Status.RUNNING)


def can_update(status: str) -> bool:
    # runc's Set: anything but a stopped container (a paused one too).
    return status in (Status.CREATED, Status.RUNNING, Status.PAUSED)


def can_observe(status: str) -> bool:
    # runc's events and ps: "container ... is not running" for a stopped one.
    return status in (Status.CREATED, Status.RUNNING, Status.PAUSED)
