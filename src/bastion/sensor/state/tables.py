"""`Tables`: what a state handler may read and change, and nothing more.

Handlers (`on_process`, `on_files`, `on_net`, `on_meta`) receive this narrow view rather than
the whole `SensorState`: they cannot reach the seeding, the container placement policy or the
statistics, and they need not import the facade that imports them (`SensorState` satisfies
the Protocol structurally).
"""

from __future__ import annotations

from typing import Protocol

from bastion.sensor.events.model import Event
from bastion.sensor.state.containers import ContainerTable
from bastion.sensor.state.fds import FdLimiter
from bastion.sensor.state.model import Thread
from bastion.sensor.state.threads import ThreadTable
from bastion.sensor.state.users import UserTable


class Tables(Protocol):
    """The tables an event updates and the lookups a handler needs."""

    threads: ThreadTable
    fd_limiter: FdLimiter
    containers: ContainerTable
    users: UserTable
    copied_fd_tables: int  # fd tables copied on a clone without CLONE_FILES (a statistic)

    def enter_param(self, event: Event, name: str) -> object:
        """`name` from the enter event of the same call (old captures put some args there)."""
        ...

    def event_fd(self, event: Event) -> int | None:
        """The fd number an fd-using event acts on."""
        ...

    def thread_for(self, tid: int, pid: int = 0) -> Thread | None:
        """The thread `tid`, read from /proc (live) or made bare (replay) when first met."""
        ...

    def add_thread(self, thread: Thread) -> Thread: ...

    def remove_thread(self, tid: int) -> None: ...

    def cloned_in_setup(self, creator: Thread, child: Thread) -> None:
        """`child` was cloned by `creator`, a thread of a runtime set-up."""
        ...

    def executed(self, thread: Thread) -> None:
        """`thread` ran a successful execve (the end of a runtime set-up, maybe)."""
        ...

    def place(self, thread: Thread) -> None:
        """Re-place `thread` in its container after an event changed its cgroups."""
        ...
