"""Reading an event's parameters the way every state handler does."""

from __future__ import annotations

from bastion.sensor.events.model import Event
from bastion.sensor.state.tables import Tables


def as_int(value: object) -> int | None:
    """`value` if it is an int (a parameter the source could read), else None."""
    return value if isinstance(value, int) else None


def param(state: Tables, event: Event, name: str) -> object:
    """`name` from the event, or from its enter event (old captures put it only there)."""
    value = event.params.get(name)
    return state.enter_param(event, name) if value is None else value
