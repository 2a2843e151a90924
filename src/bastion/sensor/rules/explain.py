"""`bastion rules explain`: why a rule did or did not match an event, check by check.

Falco users' most common question is "why didn't my rule fire". This walks a rule's condition
(macros expanded, exceptions appended) against one event and reports, for every node, whether it
held, and for every field check the value the field had (``<NA>`` when unreadable, which makes
every check but ``exists`` false). Each leaf is compiled by the real compiler, so the verdicts
are the engine's own, not a re-implementation. Not a hot path: clarity over speed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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
)
from bastion.sensor.rules.compiler import FieldTable, compile_condition, event_types
from bastion.sensor.rules.exceptions import exception_text
from bastion.sensor.rules.model import RuleDef, RuleSet
from bastion.sensor.rules.ops import MISSING
from bastion.sensor.rules.parser import parse_condition


@dataclass(slots=True)
class Step:
    """One node of the explanation: its text, verdict, field values and children."""

    text: str
    result: bool
    values: dict[str, str] = field(default_factory=dict)
    children: list[Step] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True, slots=True)
class Explanation:
    """A rule's verdict on one event, with the event types the rule needs."""

    rule: str
    event_types: frozenset[str] | None
    type_ok: bool
    matched: bool
    condition: Step
    exceptions: tuple[Step, ...]

    def render(self) -> str:
        lines = [f"rule '{self.rule}'"]
        types = "any" if self.event_types is None else ", ".join(sorted(self.event_types))
        lines.append(f"  needs evt.type: {types}")
        if not self.type_ok:
            lines.append("  this event's type is not one of them: the rule is never evaluated")
        lines.append(f"  verdict: {'MATCH' if self.matched else 'no match'}")
        lines.append("  condition:")
        _render(self.condition, lines, 2)
        for step in self.exceptions:
            lines.append("  exception (a match here suppresses the rule):")
            _render(step, lines, 2)
        return "\n".join(lines)


def _render(step: Step, lines: list[str], depth: int) -> None:
    mark = "✓" if step.result else "✗"
    pad = "  " * depth
    line = f"{pad}{mark} {step.text}"
    if step.values:
        line += "   [" + ", ".join(f"{k}={v}" for k, v in step.values.items()) + "]"
    if step.note:
        line += f"   ({step.note})"
    lines.append(line)
    for child in step.children:
        _render(child, lines, depth + 1)


class _Tracer:
    def __init__(
        self,
        macros: Mapping[str, Expr],
        lists: Mapping[str, Sequence[str]],
        fields: FieldTable,
        event: object,
    ) -> None:
        self.macros = macros
        self.lists = lists
        self.fields = fields
        self.event = event

    def step(self, node: Expr) -> Step:
        if isinstance(node, And):
            children = [self.step(c) for c in node.children]
            return Step("and", all(c.result for c in children), children=children)
        if isinstance(node, Or):
            children = [self.step(c) for c in node.children]
            return Step("or", any(c.result for c in children), children=children)
        if isinstance(node, Not):
            child = self.step(node.child)
            return Step("not", not child.result, children=[child])
        if isinstance(node, Identifier):
            child = self.step(self.macros[node.name])
            return Step(f"macro {node.name}", child.result, children=[child])
        return self.leaf(node)

    def leaf(self, node: Expr) -> Step:
        check = compile_condition(node, macros=self.macros, lists=self.lists, fields=self.fields)
        values: dict[str, str] = {}
        refs: list[FieldRef] = []
        if isinstance(node, BinaryCheck | UnaryCheck):
            refs.append(node.field)
        if isinstance(node, BinaryCheck) and isinstance(node.value, FieldValue):
            refs.append(node.value.field)
        note = ""
        for ref in refs:
            value = self._value(ref)
            shown = _ref_text(ref)
            values[shown] = "<NA>" if value is MISSING else _short(value)
            if value is MISSING:
                note = "unreadable field: the check is false (only 'exists' is not)"
        return Step(_node_text(node), check(self.event), values, note=note)

    def _value(self, ref: FieldRef) -> object:
        get = self.fields.resolve(ref.name, ref.arg)
        if get is None:
            return MISSING
        value = get(self.event)
        for name in ref.transformers:
            value = ops.TRANSFORMERS[name](value)
        return value


def _ref_text(ref: FieldRef) -> str:
    text = ref.name if ref.arg is None else f"{ref.name}[{ref.arg}]"
    for name in ref.transformers:
        text = f"{name}({text})"
    return text


def _short(value: object, limit: int = 80) -> str:
    if isinstance(value, ops.MULTI):
        text = "(" + ", ".join(ops.to_text(v) for v in value) + ")"
    else:
        text = ops.to_text(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _item_text(item: Literal | Identifier) -> str:
    return item.name if isinstance(item, Identifier) else item.text


def _node_text(node: Expr) -> str:
    if isinstance(node, UnaryCheck):
        return f"{_ref_text(node.field)} {node.op}"
    if isinstance(node, BinaryCheck):
        value = node.value
        if isinstance(value, FieldValue):
            rhs = f"val({_ref_text(value.field)})"
        elif isinstance(value, Identifier):
            rhs = value.name
        elif isinstance(value, ListValue):
            rhs = "(" + ", ".join(_item_text(i) for i in value.items) + ")"
        else:
            rhs = value.text
        return f"{_ref_text(node.field)} {node.op} {rhs}"
    return type(node).__name__


def explain(rule: RuleDef, ruleset: RuleSet, fields: FieldTable, event: object) -> Explanation:
    """Explain `rule`'s verdict on `event` (an object the `fields` getters can read)."""
    macros = {name: m.expr for name, m in ruleset.macros.items()}
    lists = {name: lst.items for name, lst in ruleset.lists.items()}
    tracer = _Tracer(macros, lists, fields, event)
    condition = tracer.step(rule.expr)
    exceptions: list[Step] = []
    for item in rule.exceptions:
        text = exception_text(item, lists)
        if text is not None:
            step = tracer.step(parse_condition(text))
            step.note = f"exception '{item.name}'"
            exceptions.append(step)
    types = event_types(rule.expr, macros, lists)
    frozen = None if types is None else frozenset(types)
    event_type = getattr(event, "type", None)
    type_ok = frozen is None or event_type in frozen
    matched = type_ok and condition.result and not any(s.result for s in exceptions)
    return Explanation(rule.name, frozen, type_ok, matched, condition, tuple(exceptions))
