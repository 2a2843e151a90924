"""What a field is (`FieldDef`), what the field getters may ask of the sensor state (`StateView`)
and the small value helpers every field class shares.

A getter reads one event and returns a typed value or `MISSING` (``bastion.sensor.rules.ops``),
never raises: Falco's filterchecks return NULL for a value they cannot extract, and the rules
compiler and the output formatter turn that into "check false" / ``<NA>``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bastion.sensor.rules.compiler import Inline
from bastion.sensor.rules.ops import MISSING

if TYPE_CHECKING:
    from bastion.sensor.events.model import Event
    from bastion.sensor.state.model import Container, Group, Thread, User

Getter = Callable[["Event"], object]


class ArgKind:
    """Whether a field takes an argument (``proc.aname[2]``, ``evt.arg.flags``)."""

    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"


class Users(Protocol):
    """The user/group tables of the state: per container, since each has its /etc/passwd."""

    def user(self, uid: int, container: Container) -> User | None: ...

    def group(self, gid: int, container: Container) -> Group | None: ...


class Threads(Protocol):
    def get(self, tid: int) -> Thread | None: ...


class StateView(Protocol):
    """The part of the sensor state (``bastion.sensor.state.SensorState``) fields read."""

    @property
    def threads(self) -> Threads: ...

    @property
    def users(self) -> Users: ...

    def process(self, pid: int) -> Thread | None: ...

    def parent(self, thread: Thread) -> Thread | None: ...

    def ancestors(self, thread: Thread) -> Iterator[Thread]: ...

    def container_of(self, thread: Thread) -> Container: ...


# factory(state, arg) -> getter, or None when the argument is not valid for this field
Factory = Callable[[StateView, "str | None"], "Getter | None"]
# inline(state, event_type, direction) -> the field as the generated matchers read it on such
# events
InlineFor = Callable[[StateView, str, str], "Inline | None"]


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field: Falco's name and type, our one-line doc, its argument and getter factory.

    `dotted` means the argument may also follow the name after a dot, the way Falco writes
    ``evt.arg.flags`` or ``thread.cgroup.cpuacct``. `type` uses the type names of Falco's
    field list (``string``, ``int64``, ``bool``, ``ipaddr``...); `is_list` marks multi-valued
    fields.
    """

    name: str
    type: str
    doc: str
    factory: Factory
    arg: str = ArgKind.NONE
    dotted: bool = False
    is_list: bool = False
    # the getter's specialisation to one event type and direction (rules/codegen.py), for a
    # field without argument that floods of events read in many rules
    inline: InlineFor | None = None

    @property
    def field_class(self) -> str:
        """``proc`` for ``proc.name``: the class `bastion fields --class` filters on."""
        return self.name.split(".", 1)[0]


class AnyOf(tuple[object, ...]):
    """The values of an "any ancestor" field (``proc.aname`` without an index).

    libsinsp compares such a field against each ancestor in turn and matches when one does
    (``compare_full_aname``); in an output it prints the values space-joined. `any_of` tells
    the operators to use "some value" semantics even for ``in``.
    """

    __slots__ = ()
    any_of = True

    def __str__(self) -> str:
        return " ".join(str(v) for v in self)


def simple(fn: Callable[[Event], object]) -> Factory:
    """A factory for a field without argument: the getter is `fn` itself."""

    def factory(state: StateView, arg: str | None) -> Getter | None:
        del state, arg
        return fn

    return factory


def simple_field(
    name: str,
    type: str,
    doc: str,
    fn: Callable[[Event], object],
    inline: InlineFor | None = None,
) -> FieldDef:
    """A field without argument whose getter is `fn`, with its inline form if it has one."""
    return FieldDef(name, type, doc, simple(fn), inline=inline)


def thread_getter(fn: Callable[[Thread], object]) -> Getter:
    """A getter reading `fn` off the event's thread (`MISSING` without one)."""

    def get(evt: Event) -> object:
        thread = evt.thread
        return MISSING if thread is None else fn(thread)

    return get


def on_thread(fn: Callable[[Thread], object]) -> Factory:
    """A factory for a field without argument read off the event's thread."""
    getter = thread_getter(fn)

    def factory(state: StateView, arg: str | None) -> Getter | None:
        del state, arg
        return getter

    return factory


def int_arg(arg: str | None) -> int | None:
    """A numeric bracket argument (``[2]``), or None if it is not one."""
    if arg is None:
        return None
    try:
        return int(arg.strip())
    except ValueError:
        return None


def or_missing(value: object) -> object:
    """`MISSING` for None (a record field the state does not know), else the value."""
    return MISSING if value is None else value
