"""Which events act on an fd: libscap's ``EF_USES_FD`` / ``EF_CREATES_FD`` / ``EF_DESTROYS_FD``.

libsinsp attaches an fd to an event only when its event-table entry carries one of these flags
(falcosecurity/libs `driver/event_table.c`, as of libs 0.17+: ``mmap``/``mmap2`` and the
``*at`` calls were flagged then). Every other event, even one with an ``fd`` parameter (e.g.
``munmap``'s neighbours, ``epoll_wait``, ``poll``), has no fd: its ``fd.*`` fields are
unreadable. The flags are columns of the event tables' rows (`bastion.sensor.state.kinds` folds
them by name and direction: the split matters for a few events whose enter side carries no fd,
the ``*at`` calls, ``setsockopt``...).
"""

from __future__ import annotations

from collections.abc import Mapping

from bastion.sensor.events.model import Direction, ParamSpec, ParamType
from bastion.sensor.state.kinds import CREATES_FD, USES_FD_ENTER, USES_FD_EXIT

_FD_TYPES = frozenset({ParamType.FD})


def uses_fd(kind: str, direction: str) -> bool:
    """True when libsinsp reads this event's fd from its parameters (``EF_USES_FD``)."""
    return kind in (USES_FD_EXIT if direction == Direction.EXIT else USES_FD_ENTER)


# One set per direction: `acts_on_fd` runs for every fd field a rule reads.
_ACTS_EXIT = USES_FD_EXIT | CREATES_FD
_ACTS_ENTER = USES_FD_ENTER | CREATES_FD


def acts_on_fd(kind: str, direction: str) -> bool:
    """True when the event has an fd at all for Falco's ``fd.*`` fields (libsinsp's
    ``extract_fd`` gate: uses, creates or destroys one)."""
    return kind in (_ACTS_EXIT if direction == Direction.EXIT else _ACTS_ENTER)


def fd_param(params: Mapping[str, object], specs: Mapping[str, ParamSpec]) -> int | None:
    """The fd number an fd-using event names: its first ``PT_FD`` parameter (``fd``, or
    ``dirfd`` for the ``*at`` calls, as libsinsp's fd locations say), None without one."""
    value = params.get("fd")
    if isinstance(value, int):
        return value
    for name, spec in specs.items():
        if spec.type in _FD_TYPES and name != "res":
            found = params.get(name)
            if isinstance(found, int):
                return found
    return None
