"""`SensorState.apply`'s common case in C: the exit of an open or a close (probe/accel.c,
`StateFast`).

Why: on a flood of opens and closes the state update cost more per event than decoding it
(docs/watch.md, "Where the time goes"): a Python call per handler, a dataclass `__init__` per
fd, an attribute read per check. `StateFast` does, for an open or close exit of a known thread
whose cgroup is settled, exactly what `apply`, `on_files.on_open` / `on_close` and
`FdLimiter.put` do, through the slots of `Event`, `Thread`, `Fd` and `FdLimiter`; everything
else (enter events, unknown threads, relative or unfolded names, an fd the table lacks, a cgroup
to place) goes to the Python method unchanged. The Python path stays the definition:
``BASTION_SENSOR_ACCEL=0`` or an unbuilt extension keeps it alone, and
tests/unit/sensor/test_state_fast.py holds the two to the same tables on every event of the
public captures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

from bastion.sensor.events.model import Direction, Event
from bastion.sensor.state import flags, on_files
from bastion.sensor.state.apply import HANDLERS
from bastion.sensor.state.model import Fd, FdType, Thread

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.sensor.state.sensor_state import SensorState

#: StateFast's kinds: the event types it may apply, by their handler
_OPEN, _CLOSE = 1, 2
#: Fd's fields StateFast sets from the event, in field order; the others take their defaults
_SET = ("num", "type", "name", "flags", "dev", "ino")


class FastApply(Protocol):
    """StateFast: called as `apply` is; `handled` counts the events it applied itself (the
    others went to `slow`, which counts its own)."""

    handled: int

    def __call__(self, event: Event, /) -> None: ...


def fast_apply(state: SensorState, slow: Callable[[Event], None]) -> FastApply | None:
    """A callable applying events to `state` as `slow` (its own `apply`) does, in C where it
    can; None where the compiled extension is off or not built."""
    from bastion.sensor.probe import accel

    module = accel.load()
    make = getattr(module, "StateFast", None) if module is not None else None
    if make is None:
        return None
    kinds = {k: _OPEN for k, h in HANDLERS.items() if h is on_files.on_open}
    kinds.update({k: _CLOSE for k, h in HANDLERS.items() if h is on_files.on_close})
    fields = dataclasses.fields(Fd)
    names = tuple(f.name for f in fields)
    if names[: len(_SET)] != _SET or any(
        f.default is dataclasses.MISSING for f in fields[len(_SET) :]
    ):
        return None  # Fd changed shape: the Python path, which is always right
    defaults = tuple(f.default for f in fields[len(_SET) :])
    applied: FastApply = make(
        state.threads._by_tid,  # never replaced (threads.py)
        state._cgroup_containers,
        state.fd_limiter,
        kinds,
        Event,
        Thread,
        Fd,
        names,
        defaults,
        FdType.FILE,
        FdType.DIRECTORY,
        Direction.EXIT,
        flags.O_DIRECTORY,
        slow,
    )
    return applied
