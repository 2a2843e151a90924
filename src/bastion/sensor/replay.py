"""Recorded event streams as a flat iterator, and one event with the state built up to it.

`bastion watch --replay`, `bastion rules explain --replay` and the benches read captures through
these; the file formats and seeding live in `bastion.sensor.sources`.
"""

from __future__ import annotations

from collections.abc import Iterator

from bastion.errors import BastionError
from bastion.sensor.events.model import Event
from bastion.sensor.sources import open_recording

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.sensor.state import SensorState


class ReplayError(BastionError):
    """Raised when a capture has no event of the number asked for."""

    reference = "replay-no-event"


def open_replay(path: str, state: SensorState) -> Iterator[Event]:
    """Seed `state` from the capture at `path` now, and yield its events (not yet applied)."""
    source = open_recording(path, state)

    def events() -> Iterator[Event]:
        try:
            for batch in source.batches():
                yield from batch
        finally:
            source.close()

    return events()


def event_at(path: str, num: int, state: SensorState) -> Event:
    """Event number `num` of `path`, with `state` built by applying every event up to it."""
    for event in open_replay(path, state):
        state.apply(event)
        if event.num == num:
            return event
    raise ReplayError(
        f"{path} has no event number {num}",
        where=path,
        hint="`bastion events -r FILE` prints the events with their numbers",
    )
