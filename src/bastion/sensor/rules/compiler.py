"""Stage 3 of the rules pipeline: compile a condition AST once into nested closures.

`compile_condition` walks the AST with a visitor (docs/conventions.md §10), expanding macros and
lists as it goes, and returns ``Callable[[Event], bool]``; no AST is looked at per event.
Semantics follow libsinsp (``sinsp_filtercheck.cpp`` ``compare_nocache``): a field that cannot
be read (the getter returns `MISSING`) makes its check false, ``exists`` included only when the
field is unreadable, and ``not`` just negates, so ``not <check on a missing field>`` is true.
Operators live in `ops`. `event_types` infers the ``evt.type`` values a condition can match
(falco ``evttype_index_ruleset``), to index rules by event type.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping, Sequence
from typing import NamedTuple, Protocol, TypeAlias

from bastion.errors import BastionError
from bastion.sensor.rules import ops
from bastion.sensor.rules.ast import (
    And,
    BinaryCheck,
    Expr,
    FieldRef,
    FieldValue,
    Identifier,
    ListValue,
    Literal,
    Not,
    Or,
    UnaryCheck,
    Visitor,
)
from bastion.sensor.rules.checks import MAX_MACRO_DEPTH
from bastion.sensor.rules.ops import MISSING

Event: TypeAlias = object
Getter: TypeAlias = Callable[[Event], object]
Condition: TypeAlias = Callable[[Event], bool]


def event_type(evt: Event) -> object:
    """The getter of ``evt.type``: the event's own type, the key the engine dispatches on.

    A field table that gives this very function for ``evt.type`` lets the generated matchers
    (`codegen`) fold checks on the type, since each only sees events of one type."""
    return evt.type  # type: ignore[attr-defined]


def event_direction(evt: Event) -> object:
    """The getter of ``evt.dir``: the event's own direction (``>`` or ``<``). As with
    `event_type`, a field table giving this very function lets the engine dispatch on the
    direction too and the generated matchers fold checks on it."""
    return evt.dir  # type: ignore[attr-defined]


class Inline(NamedTuple):
    """A field as the generated matchers may read it on events of one type and direction
    (rules/codegen.py): a Python expression over ``evt`` (`text`, with the objects it names in
    `names`, each starting with ``_``; temporaries it binds start with ``_w_``), or, when
    `constant`, the value every such event has. The field's getter stays its definition: an
    `Inline` must give exactly what the getter gives on those events (a test holds them to it).
    """

    text: str = ""
    names: Mapping[str, object] = {}
    constant: bool = False
    value: object = None


class FieldTable(Protocol):
    """Resolves a field name (and its bracket argument) to a getter, or None if unknown.

    A table may also have ``inline(name, arg, event_type, direction) -> Inline | None``:
    the generated matchers then read the fields it gives inline."""

    def resolve(self, name: str, arg: str | None) -> Getter | None: ...


class CompileError(BastionError):
    """Raised by `compile_condition` for a condition that parses but cannot be compiled.

    References: ``rule-unknown-field`` (`name` is the field), ``rule-undefined-macro``,
    ``rule-macro-cycle`` (`name` is the macro), ``rule-undefined-list`` and
    ``rule-invalid-operand`` (bad hex for ``bcontains``, bad regex, ...). `pos` is the offset
    of the offending node in the condition of `macro` (None: the compiled expression itself),
    so a caller holding the sources can point at file:line:col.
    """

    reference = "rule-compile"

    def __init__(
        self,
        message: str,
        *,
        reference: str,
        name: str,
        where: str | None = None,
        pos: int = 0,
        macro: str | None = None,
    ) -> None:
        super().__init__(message, where=where, reference=reference)
        self.name = name
        self.pos = pos
        self.macro = macro


def unquote(item: str) -> str:
    """A list item as Falco pastes it into a condition: surrounding blanks dropped (they are
    only layout once pasted) and one level of matching quotes removed."""
    item = item.strip(" \t\r\n")
    if len(item) >= 2 and item[0] == item[-1] and item[0] in "\"'":
        return item[1:-1]
    return item


def expand_list(
    name: str, lists: Mapping[str, Sequence[str]], stack: tuple[str, ...] = ()
) -> list[str]:
    out: list[str] = []
    for item in lists[name]:
        bare = item.strip(" \t\r\n")
        if bare in lists and bare not in stack and bare != name:
            out.extend(expand_list(bare, lists, (*stack, name)))
        else:
            out.append(unquote(item))
    return out


class MatchScope:
    """One event's evaluation by an engine: while `serial` stays the same, a macro's result
    is the same, so each macro is evaluated once per event however many rules use it (Falco's
    stable rules share `open_read`, `open_write`, `container`, `spawned_process`... across
    dozens of rules). The engine bumps `serial` before and after each event, so no result is
    reused outside one `match` call."""

    __slots__ = ("fields", "macros", "serial")

    def __init__(self) -> None:
        self.serial = 0
        self.macros: dict[str, Condition] = {}  # compiled once, shared by every rule
        # field getters, keyed by the field's text: one value per event however many checks
        # read it (fd.name is read by most open rules, several times each)
        self.fields: dict[tuple[str, str | None, tuple[str, ...]], Getter] = {}


def compile_condition(
    expr: Expr,
    *,
    macros: Mapping[str, Expr],
    lists: Mapping[str, Sequence[str]],
    fields: FieldTable,
    event_names: Container[str] | None = None,
    scope: MatchScope | None = None,
) -> Condition:
    """Compile `expr` to a predicate on events; raises `CompileError`.

    With `event_names`, an ``evt.type`` compared (``=``, ``!=``, ``in``...) with a name that is
    not an event type is an error, as in Falco: such a check could never match. With `scope`,
    macro results are kept for the scope's current event (`MatchScope`).
    """
    return ConditionCompiler(macros, lists, fields, event_names, scope).visit(expr)


def _not(inner: Condition) -> Condition:
    return lambda evt: not inner(evt)


# Closures unrolled up to four children: all()/any() over a generator cost a frame and a
# generator object per call, about a third of a rule's time on an open event.
def _and(parts: tuple[Condition, ...]) -> Condition:
    if len(parts) == 2:
        a, b = parts
        return lambda evt: a(evt) and b(evt)
    if len(parts) == 3:
        a, b, c = parts
        return lambda evt: a(evt) and b(evt) and c(evt)
    if len(parts) == 4:
        a, b, c, d = parts
        return lambda evt: a(evt) and b(evt) and c(evt) and d(evt)

    def check(evt: Event) -> bool:
        for p in parts:  # noqa: SIM110 - a loop, not all() over a generator: no frame per call
            if not p(evt):
                return False
        return True

    return check


def _or(parts: tuple[Condition, ...]) -> Condition:
    if len(parts) == 2:
        a, b = parts
        return lambda evt: a(evt) or b(evt)
    if len(parts) == 3:
        a, b, c = parts
        return lambda evt: a(evt) or b(evt) or c(evt)
    if len(parts) == 4:
        a, b, c, d = parts
        return lambda evt: a(evt) or b(evt) or c(evt) or d(evt)

    def check(evt: Event) -> bool:
        for p in parts:  # noqa: SIM110 - a loop, not any() over a generator: no frame per call
            if p(evt):
                return True
        return False

    return check


def _memo(inner: Condition, scope: MatchScope) -> Condition:
    """`inner`, evaluated once per event of `scope`."""
    serial = -1
    value = False

    def check(evt: Event) -> bool:
        nonlocal serial, value
        if serial != scope.serial:
            value = inner(evt)
            serial = scope.serial
        return value

    return check


def _memo_field(get: Getter, scope: MatchScope) -> Getter:
    """`get`, read once per event of `scope` (the state does not change during a match)."""
    serial = -1
    value: object = None

    def read(evt: Event) -> object:
        nonlocal serial, value
        if serial != scope.serial:
            value = get(evt)
            serial = scope.serial
        return value

    return read


#: Fields read straight off the event: a memo would cost more than the read.
_CHEAP_FIELDS = frozenset({"evt.type", "evt.dir"})


class ConditionCompiler(Visitor[Condition]):
    """A condition's AST to nested closures, the definition of what it means; the generated
    matchers (codegen.py) take their getters, predicates and field comparisons from it."""

    def __init__(
        self,
        macros: Mapping[str, Expr],
        lists: Mapping[str, Sequence[str]],
        fields: FieldTable,
        event_names: Container[str] | None = None,
        scope: MatchScope | None = None,
    ) -> None:
        self.scope = scope
        self.macros = macros
        self.lists = lists
        self.fields = fields
        self.event_names = event_names
        self.stack: list[str] = []
        self.done: dict[str, Condition] = scope.macros if scope is not None else {}

    @property
    def current(self) -> str | None:
        """The macro being compiled, or None for the top-level expression."""
        return self.stack[-1] if self.stack else None

    def visit_And(self, node: And) -> Condition:
        return _and(tuple(self.visit(c) for c in node.children))

    def visit_Or(self, node: Or) -> Condition:
        return _or(tuple(self.visit(c) for c in node.children))

    def visit_Not(self, node: Not) -> Condition:
        return _not(self.visit(node.child))

    def visit_Identifier(self, node: Identifier) -> Condition:
        name = node.name
        if name in self.done:
            return self.done[name]
        if name in self.stack:
            chain = " -> ".join([*self.stack, name])
            raise CompileError(
                f"macro {name!r} refers to itself ({chain})",
                reference="rule-macro-cycle",
                name=name,
                pos=node.pos,
                macro=self.current,
            )
        if name not in self.macros:
            raise CompileError(
                f"undefined macro {name!r}",
                reference="rule-undefined-macro",
                name=name,
                pos=node.pos,
                macro=self.current,
            )
        if len(self.stack) >= MAX_MACRO_DEPTH:
            raise CompileError(
                f"macros nest deeper than {MAX_MACRO_DEPTH} levels at {name!r}",
                reference="rule-macro-depth",
                name=name,
                pos=node.pos,
                macro=self.current,
            )
        self.stack.append(name)
        try:
            compiled = self.visit(self.macros[name])
        finally:
            self.stack.pop()
        if self.scope is not None:
            compiled = _memo(compiled, self.scope)
        self.done[name] = compiled
        return compiled

    def getter(self, ref: FieldRef) -> Getter:
        get = self.fields.resolve(ref.name, ref.arg)
        if get is None:
            shown = ref.name if ref.arg is None else f"{ref.name}[{ref.arg}]"
            raise CompileError(
                f"unknown field {shown!r}",
                reference="rule-unknown-field",
                name=ref.name,
                pos=ref.pos,
                macro=self.current,
            )
        for tr in ref.transformers:
            get = _transformed(get, ops.TRANSFORMERS[tr])
        if self.scope is None or ref.name in _CHEAP_FIELDS:
            return get
        key = (ref.name, ref.arg, tuple(ref.transformers))
        shared = self.scope.fields.get(key)
        if shared is None:
            shared = self.scope.fields[key] = _memo_field(get, self.scope)
        return shared

    def visit_UnaryCheck(self, node: UnaryCheck) -> Condition:
        get = self.getter(node.field)
        return lambda evt: get(evt) is not MISSING

    def texts(self, node: BinaryCheck) -> list[str]:
        value = node.value
        if isinstance(value, Literal):
            return [value.text]
        if isinstance(value, Identifier):
            if value.name in self.lists:
                return expand_list(value.name, self.lists)
            if node.op in ops.LIST_OPS:
                raise CompileError(
                    f"undefined list {value.name!r}",
                    reference="rule-undefined-list",
                    name=value.name,
                    pos=value.pos,
                    macro=self.current,
                )
            return [value.name]
        assert isinstance(value, ListValue)
        out: list[str] = []
        for item in value.items:
            if isinstance(item, Identifier) and item.name in self.lists:
                out.extend(expand_list(item.name, self.lists))
            else:
                out.append(item.name if isinstance(item, Identifier) else item.text)
        return out

    def check_event_names(self, node: BinaryCheck, texts: list[str]) -> None:
        names = self.event_names
        assert names is not None
        for text in texts:
            if text in names:
                continue
            value = node.value
            pos, via = value.pos, ""
            if isinstance(value, Identifier):
                via = f" (an item of list {value.name!r})"
            elif isinstance(value, ListValue):
                for item in value.items:
                    label = item.name if isinstance(item, Identifier) else item.text
                    if label == text:
                        pos = item.pos
                        break
                    listed = isinstance(item, Identifier) and item.name in self.lists
                    if listed and text in expand_list(label, self.lists):
                        pos, via = item.pos, f" (an item of list {label!r})"
                        break
            raise CompileError(
                f"unknown event type {text!r}{via}: evt.type {node.op} compares with event "
                "names, and Falco refuses a name that is not one (the check could never match)",
                reference="rule-unknown-event-type",
                name=text,
                pos=pos,
                macro=self.current,
            )

    def predicate(self, node: BinaryCheck, op: str, texts: list[str]) -> ops.Pred:
        try:
            return ops.make_predicate(op, texts)
        except ops.OperandError as exc:
            raise CompileError(
                f"{node.field.name} {op}: {exc}",
                reference="rule-invalid-operand",
                name=node.field.name,
                pos=node.pos,
                macro=self.current,
            ) from exc

    def visit_BinaryCheck(self, node: BinaryCheck) -> Condition:
        get = self.getter(node.field)
        op = node.op
        if isinstance(node.value, FieldValue):
            rhs = self.getter(node.value.field)
            return field_comparison(get, rhs, op)
        texts = self.texts(node)
        if names_a_list(node, self.lists):
            # Falco's legacy list substitution: `f = some_list` pasted the list's items, so it
            # means `f in (items)`, and `f != some_list` means `not f in (items)`
            texts = expand_list(node.value.text, self.lists)  # type: ignore[union-attr]
            if self.event_names is not None and _is_event_type_check(node):
                self.check_event_names(node, texts)
            member = self.predicate(node, "in", texts)
            if op == "!=":
                return lambda evt: (v := get(evt)) is not MISSING and not member(v)
            return lambda evt: (v := get(evt)) is not MISSING and member(v)
        if self.event_names is not None and _is_event_type_check(node):
            self.check_event_names(node, texts)
        pred = self.predicate(node, op, texts)

        def check(evt: Event) -> bool:
            value = get(evt)
            return value is not MISSING and pred(value)

        return check


def names_a_list(node: BinaryCheck, lists: Mapping[str, Sequence[str]]) -> bool:
    """``f = name`` / ``f != name`` with `name` a bare word naming a list."""
    value = node.value
    return (
        node.op in ("=", "==", "!=")
        and isinstance(value, Literal)
        and value.bare
        and value.text in lists
    )


def _is_event_type_check(node: BinaryCheck) -> bool:
    field = node.field
    return (
        field.name == "evt.type"
        and field.arg is None
        and not field.transformers
        and node.op in _EVENT_TYPE_OPS
    )


# The comparisons of evt.type whose values must be event names (Falco checks these).
_EVENT_TYPE_OPS = frozenset({"=", "==", "!=", "in", "intersects"})


def _transformed(get: Getter, fn: Callable[[object], object]) -> Getter:
    return lambda evt: fn(get(evt))


def field_comparison(get: Getter, rhs: Getter, op: str) -> Condition:
    """``field op val(other)``: the right side is read per event, then compared as text."""

    def check(evt: Event) -> bool:
        value = get(evt)
        if value is MISSING:
            return False
        other = rhs(evt)
        if other is MISSING:
            return False
        items = other if isinstance(other, ops.MULTI) else (other,)
        texts = [ops.to_text(v) for v in items]
        try:
            return ops.make_predicate(op, texts)(value)
        except ops.OperandError:
            return False

    return check


# --- event-type inference ---------------------------------------------------------------------


class _EventTypes(Visitor[frozenset[str] | None]):
    """The set of ``evt.type`` values an expression can match; None means any.

    Like falco's ``filter_evttype_resolver``: ``evt.type = X`` and ``evt.type in (...)`` give
    their names, ``and`` intersects, ``or`` unites, any other check gives any; under ``not``,
    ``evt.type != X`` and ``not evt.type = X`` match all but some types and count as any.
    """

    def __init__(self, macros: Mapping[str, Expr], lists: Mapping[str, Sequence[str]]) -> None:
        self.macros = macros
        self.lists = lists
        self.stack: list[str] = []

    def visit_And(self, node: And) -> frozenset[str] | None:
        result: frozenset[str] | None = None
        for child in node.children:
            types = self.visit(child)
            if types is not None:
                result = types if result is None else result & types
        return result

    def visit_Or(self, node: Or) -> frozenset[str] | None:
        result: frozenset[str] = frozenset()
        for child in node.children:
            types = self.visit(child)
            if types is None:
                return None
            result |= types
        return result

    def visit_Not(self, node: Not) -> frozenset[str] | None:
        return None

    def visit_Identifier(self, node: Identifier) -> frozenset[str] | None:
        if node.name not in self.macros or node.name in self.stack:
            return None
        self.stack.append(node.name)
        try:
            return self.visit(self.macros[node.name])
        finally:
            self.stack.pop()

    def visit_UnaryCheck(self, node: UnaryCheck) -> frozenset[str] | None:
        return None

    def visit_BinaryCheck(self, node: BinaryCheck) -> frozenset[str] | None:
        f = node.field
        if f.name != "evt.type" or f.transformers or f.arg is not None:
            return None
        value = node.value
        if node.op in ("=", "==") and isinstance(value, Literal):
            if value.bare and value.text in self.lists:
                return frozenset(expand_list(value.text, self.lists))
            return frozenset((value.text,))
        if node.op in ("in", "intersects"):
            if isinstance(value, Identifier) and value.name in self.lists:
                return frozenset(expand_list(value.name, self.lists))
            if isinstance(value, ListValue):
                names: set[str] = set()
                for item in value.items:
                    if isinstance(item, Identifier) and item.name in self.lists:
                        names.update(expand_list(item.name, self.lists))
                    else:
                        names.add(item.name if isinstance(item, Identifier) else item.text)
                return frozenset(names)
        return None


def event_types(
    expr: Expr,
    macros: Mapping[str, Expr],
    lists: Mapping[str, Sequence[str]] | None = None,
) -> set[str] | None:
    """The ``evt.type`` values `expr` can match, or None when it may match any event type."""
    types = _EventTypes(macros, lists or {}).visit(expr)
    return None if types is None else set(types)
