"""What the state needs to know about each event kind, derived from the two event tables.

The rows of the live probe's table (`bastion.sensor.events.schema`, exit events only) and of
libscap's (`bastion.sensor.capture.scap_events`, both directions) carry `EventFlag`s and the key
of the handler that parses them; this module folds them into the by-name views the per-event
path reads (one set lookup each), so no list of event names is written twice. Where both tables
name an event, their exit rows must agree (a unit test checks it).
"""

from __future__ import annotations

from collections.abc import Iterator

from bastion.sensor.capture.scap_events import EVENTS as SCAP_EVENTS
from bastion.sensor.events.model import Direction
from bastion.sensor.events.model import EventFlag as F
from bastion.sensor.events.schema import EVENTS as LIVE_EVENTS


def rows() -> Iterator[tuple[str, str, int, str | None]]:
    """(name, direction, flags, handler key) of every row of both tables."""
    for spec in LIVE_EVENTS:
        yield spec.name, Direction.EXIT, spec.flags, spec.handler
    for info in SCAP_EVENTS.values():
        yield info.name, info.dir, info.flags, info.handler


def _with(flag: int) -> frozenset[tuple[str, str]]:
    return frozenset((name, d) for name, d, flags, _ in rows() if flags & flag)


_USES_FD = _with(F.USES_FD)
USES_FD_EXIT: frozenset[str] = frozenset(n for n, d in _USES_FD if d == Direction.EXIT)
"""Exit events libsinsp reads an fd from (``EF_USES_FD``)."""
USES_FD_ENTER: frozenset[str] = frozenset(n for n, d in _USES_FD if d == Direction.ENTER)
"""Enter events libsinsp reads an fd from (``EF_USES_FD``)."""
CREATES_FD: frozenset[str] = frozenset(name for name, _ in _with(F.CREATES_FD))
"""Events whose result is a new fd (``EF_CREATES_FD``)."""
NOT_SYSCALLS: frozenset[str] = frozenset(name for name, _ in _with(F.SKIPPARSERESET))
"""Enter-side events that are no syscall's first half (``EF_SKIPPARSERESET``): they must not
replace the pending enter event of their thread, or a read whose thread was switched out
mid-call would lose its fd."""
UNPAIRED: frozenset[str] = frozenset(name for name, _ in _with(F.UNPAIRED))
"""Events with no enter side (procexit): their handler runs whatever their direction says."""


def handler_keys() -> dict[str, str]:
    """Each event name to the key of its state handler (names without one are left out)."""
    keys: dict[str, str] = {}
    for name, _, _, key in rows():
        if key is None:
            continue
        if keys.setdefault(name, key) != key:
            raise ValueError(f"event {name!r} names two handlers: {keys[name]!r} and {key!r}")
    return keys
