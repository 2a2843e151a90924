"""`FieldRegistry`: every field class's table behind the rules compiler's `FieldTable`.

A name resolves in one of two ways, as in libsinsp: the whole name is a field
(``proc.aname`` with the bracket argument ``2``), or a prefix is a field that takes its
argument after a dot (``evt.arg.flags`` is ``evt.arg`` with ``flags``); the longest such
prefix wins. Unknown names, a missing required argument, an argument on a field that takes
none, or an argument the field cannot use all resolve to None, which the compiler reports.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from bastion.sensor.fields import container, evt, fd, proc, user
from bastion.sensor.fields.model import ArgKind, FieldDef
from bastion.sensor.rules.compiler import Getter, Inline

if TYPE_CHECKING:
    from bastion.sensor.fields.model import StateView

ALL_FIELDS: tuple[FieldDef, ...] = (
    *evt.FIELDS,
    *proc.FIELDS,
    *fd.FIELDS,
    *user.FIELDS,
    *container.FIELDS,
)


def field_index(fields: Iterable[FieldDef]) -> dict[str, FieldDef]:
    """Fields by name; a name defined twice is a programming error caught at import."""
    index: dict[str, FieldDef] = {}
    for f in fields:
        if f.name in index:
            raise ValueError(f"field {f.name} is defined twice")
        index[f.name] = f
    return index


BY_NAME: dict[str, FieldDef] = field_index(ALL_FIELDS)


def lookup(name: str) -> tuple[FieldDef, str | None] | None:
    """The field `name` refers to and the argument its dotted tail gives, or None."""
    found = BY_NAME.get(name)
    if found is not None:
        return found, None
    cut = len(name)
    while (cut := name.rfind(".", 0, cut)) > 0:
        prefix = BY_NAME.get(name[:cut])
        if prefix is not None and prefix.dotted:
            tail = name[cut + 1 :]
            return (prefix, tail) if tail else None
    return None


class FieldRegistry:
    """Resolves Falco field names to getters over events and the sensor `state`."""

    def __init__(self, state: StateView) -> None:
        self.state = state

    def resolve(self, name: str, arg: str | None) -> Getter | None:
        found = lookup(name)
        if found is None:
            return None
        field, dotted_arg = found
        if dotted_arg is not None:
            if arg is not None:
                return None
            arg = dotted_arg
        if arg is None and field.arg == ArgKind.REQUIRED:
            return None
        if arg is not None and field.arg == ArgKind.NONE:
            return None
        # our getters take an Event; the compiler's protocol types events as object
        return cast("Getter | None", field.factory(self.state, arg))

    def inline(self, name: str, arg: str | None, event_type: str, direction: str) -> Inline | None:
        """`name`'s inline form on events of `event_type` and `direction`, if it has one."""
        field = BY_NAME.get(name)
        if arg is not None or field is None or field.inline is None:
            return None
        return field.inline(self.state, event_type, direction)

    def field(self, name: str) -> FieldDef | None:
        """The definition `name` refers to (``evt.arg.flags`` -> ``evt.arg``), or None."""
        found = lookup(name)
        return None if found is None else found[0]
