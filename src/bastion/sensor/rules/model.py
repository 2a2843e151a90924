"""The data of a rules file: source positions, raw items (loader) and definitions (collector).

All frozen slotted dataclasses. A `Mark` is 1-based like a compiler message (``file:line:col``);
PyYAML's marks are 0-based and converted once, in the loader.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _field
from typing import TypeAlias

from bastion.sensor.rules.ast import Expr

ExceptionValue: TypeAlias = "str | tuple[ExceptionValue, ...]"


@dataclass(frozen=True, slots=True)
class Mark:
    """A 1-based position in a rules file."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class ScalarSpan:
    """Where a scalar's text lies in its file, to map an offset in its value back to the file.

    `style` is PyYAML's: ``None`` (plain), ``'`` or ``"`` (quoted), ``|`` or ``>`` (block).
    `source` is the whole file text (shared, not copied); `start` and `end` are 0-based
    (line, column) pairs of the node.
    """

    file: str
    style: str | None
    start: tuple[int, int]
    end: tuple[int, int]
    source: str = _field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class RawItem:
    """One top-level item of a rules file as written, before any append or override.

    `kind` is ``list``, ``macro``, ``rule``, ``required_engine_version`` or
    ``required_plugin_versions``. `fields` hold decoded values (str, bool, tuples, dicts for
    ``override``, `ExceptionDef` tuples); `marks` the position of each field's value and
    `spans` the source of each string field (used for condition positions).
    """

    kind: str
    name: str
    mark: Mark
    fields: dict[str, object]
    marks: dict[str, Mark]
    spans: dict[str, ScalarSpan]


@dataclass(frozen=True, slots=True)
class ExceptionDef:
    """One item of a rule's ``exceptions``: `fields`/`comps` are one string or a tuple."""

    name: str
    mark: Mark
    fields: str | tuple[str, ...] | None = None
    comps: str | tuple[str, ...] | None = None
    values: tuple[ExceptionValue, ...] = ()
    # where `fields`, `comps` and each value are written (for errors; None: not written)
    fields_mark: Mark | None = _field(default=None, compare=False)
    comps_mark: Mark | None = _field(default=None, compare=False)
    value_marks: tuple[Mark, ...] = _field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class ConditionPart:
    """A piece of a (possibly appended) condition: its offset in the whole and its source."""

    offset: int
    text: str
    span: ScalarSpan | None
    mark: Mark


@dataclass(frozen=True, slots=True)
class ListDef:
    """A final ``list``: its items as written (names of other lists are expanded later)."""

    name: str
    items: tuple[str, ...]
    mark: Mark


@dataclass(frozen=True, slots=True)
class MacroDef:
    """A final ``macro`` with its parsed condition (macro references unresolved)."""

    name: str
    condition: str
    expr: Expr
    mark: Mark
    parts: tuple[ConditionPart, ...] = _field(default=(), repr=False, compare=False)


#: What a rule's `action:` may name (bastion's; Falco's rules files have no such key and load
#: unchanged): `alert` only reports, the others act on the event's process or container.
RULE_ACTIONS = ("alert", "kill_process", "kill_container", "pause_container")


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleDef:
    """A final ``rule`` after appends and overrides, with its parsed condition. `actions` is
    bastion's `action:` key (beyond Falco): what the sensor does when the rule matches."""

    name: str
    condition: str
    expr: Expr
    output: str
    priority: str
    desc: str
    mark: Mark
    tags: tuple[str, ...] = ()
    enabled: bool = True
    source: str = "syscall"
    exceptions: tuple[ExceptionDef, ...] = ()
    warn_evttypes: bool = True
    skip_if_unknown_filter: bool = False
    actions: tuple[str, ...] = ()
    parts: tuple[ConditionPart, ...] = _field(default=(), repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The result of loading rules files: final definitions in first-definition order."""

    lists: dict[str, ListDef]
    macros: dict[str, MacroDef]
    rules: dict[str, RuleDef]
    warnings: list[str]
    required_engine_version: str | None = None
    required_plugin_versions: tuple[tuple[str, str], ...] = ()
