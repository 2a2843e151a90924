"""Stage 4b of the rules pipeline: one event type's candidate rules as one generated function.

The closures of `compiler` stay the definition of a condition; this module is the fast path
`RuleEngine.match` takes (docs/watch.md "Where the time goes": on a flood of opens the closure
tree cost ~8 µs an event, a call per node). For an event type it writes the Python source of
one function that evaluates every candidate rule in load order and `compile()`s it:

- each field is read at most once per event, into a local (``f3``), on first use;
- each macro's result is kept in a local (``m2``) on first use, as `MatchScope` does;
- a check on ``evt.type`` or ``evt.dir`` is folded to a constant, since the function only
  ever sees events of one type and direction (only when the field table's getter is
  `compiler.event_type` / `event_direction`, so the value is the very attribute the engine
  dispatched on), and ``and``/``or``/``not`` fold with it;
- the common operators on a ``str`` (``int``, ``bool``) value are inlined as the plain Python
  comparison `ops` makes for that type, with list operands pre-folded to frozensets; any other
  value type goes to the `ops` predicate itself, so the result is the predicate's.

Checks stay in the order written: every getter is total and pure (fields/model.py: a getter
never raises), so the short-circuits decide only what is computed, never the result, and
the generated code keeps Falco's evaluation order anyway. A condition the generator cannot
turn into source (a ``val()`` comparison) is called as the compiled closure of that node.
A function whose source Python refuses (nesting too deep) is left to the closures: `build`
then returns None, and the engine uses the closures for that type.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from types import CodeType
from typing import TypeAlias

from bastion.sensor.rules import ops
from bastion.sensor.rules.ast import (
    And,
    BinaryCheck,
    Expr,
    FieldRef,
    FieldValue,
    Identifier,
    Not,
    Or,
    UnaryCheck,
    Visitor,
)
from bastion.sensor.rules.compiler import (
    ConditionCompiler,
    FieldTable,
    Inline,
    event_direction,
    event_type,
    expand_list,
    field_comparison,
    names_a_list,
)

Event: TypeAlias = object
#: A generated matcher: the hit rules of an event, or None when none hit.
Matcher: TypeAlias = Callable[[Event], "list[object] | None"]

#: ``BASTION_SENSOR_RULES_CODEGEN=0`` in the sensor's environment keeps every rule on the
#: closures of `compiler` (the definition), e.g. to compare both paths.
CODEGEN_ENV = "BASTION_SENSOR_RULES_CODEGEN"

#: Beyond this many characters of source a function is left to the closures (a sanity bound
#: on what one event type's rules expand to; Falco's stable rules make ~40k for execve).
MAX_SOURCE = 2_000_000

#: Compiled sources, by their text: the same rules loaded again (a reload, each replay of a
#: capture, every test) write the same source, whose compile() is most of a matcher's cost
#: (up to ~7 ms for execve's with Falco's stable rules). The names they use are bound anew.
_CODE: dict[str, CodeType] = {}
_MAX_CODE = 512

_TRUE, _FALSE = "True", "False"
_PY_OPS = {"=": "==", "==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_STR_METHODS = {"startswith": "{v}.startswith({k})", "endswith": "{v}.endswith({k})"}


def enabled() -> bool:
    """Whether the engine should generate matchers (not turned off in the environment)."""
    return os.environ.get(CODEGEN_ENV, "1") != "0"


class _Unset:
    """A local not computed yet for this event."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()


class _Source(Visitor[str]):
    """Python expression text for a condition; constants and getters go into `names`."""

    def __init__(
        self,
        compiler: ConditionCompiler,
        fields: FieldTable,
        event_type_name: str | None,
        direction: str | None,
    ) -> None:
        self.compiler = compiler
        self.fields = fields
        self.event_type = event_type_name
        self.direction = direction
        # what each field local is read with: ``g3(evt)``, or the field table's inline text
        self.reads: dict[str, str] = {}
        # the values every event this function sees has, by the getter that reads them
        self.known: dict[str, tuple[Callable[[Event], object], str]] = {}
        if event_type_name is not None:
            self.known["evt.type"] = (event_type, event_type_name)
        if direction is not None:
            self.known["evt.dir"] = (event_direction, direction)
        self.names: dict[str, object] = {"U": UNSET, "M": ops.MISSING}
        self.field_locals: dict[tuple[str, str | None, tuple[str, ...]], str] = {}
        self.macro_locals: dict[str, str] = {}
        self.macro_text: dict[str, str] = {}
        self.stack: list[str] = []

    def constant(self, value: object, prefix: str = "k") -> str:
        name = f"{prefix}{len(self.names)}"
        self.names[name] = value
        return name

    # --- boolean structure, folded where a child is a constant --------------------------------

    def visit_And(self, node: And) -> str:
        return self._join(node.children, "and", absorbing=_FALSE, neutral=_TRUE)

    def visit_Or(self, node: Or) -> str:
        return self._join(node.children, "or", absorbing=_TRUE, neutral=_FALSE)

    def _join(self, children: Sequence[Expr], op: str, *, absorbing: str, neutral: str) -> str:
        """`children` joined by `op`: `absorbing` as soon as one child folds to it, constant
        `neutral` children left out (all of them: `neutral`)."""
        parts: list[str] = []
        for child in children:
            text = self.visit(child)
            if text == absorbing:
                return absorbing
            if text != neutral:
                parts.append(text)
        if not parts:
            return neutral
        return parts[0] if len(parts) == 1 else "(" + f" {op} ".join(parts) + ")"

    def visit_Not(self, node: Not) -> str:
        text = self.visit(node.child)
        if text in (_TRUE, _FALSE):
            return _FALSE if text == _TRUE else _TRUE
        return f"(not {text})"

    def visit_Identifier(self, node: Identifier) -> str:
        """A macro: its body, its result kept in a local from its first use on."""
        name = node.name
        body = self.macro_text.get(name)
        if body is None:
            self.stack.append(name)
            try:
                body = self.visit(self.compiler.macros[name])
            finally:
                self.stack.pop()
            self.macro_text[name] = body
        if body in (_TRUE, _FALSE) or _is_atom(body):
            return body
        local = self.macro_locals.get(name)
        if local is None:
            local = self.macro_locals[name] = f"m{len(self.macro_locals)}"
        return f"({local} if {local} is not U else ({local} := {body}))"

    # --- checks -------------------------------------------------------------------------------

    def field(self, ref: FieldRef) -> str:
        """The expression reading `ref` once per event."""
        key = (ref.name, ref.arg, tuple(ref.transformers))
        local = self.field_locals.get(key)
        if local is None:
            local = self.field_locals[key] = f"f{len(self.field_locals)}"
            inline = self.inline_field(ref)
            if inline is not None:
                self.names.update(inline.names)
                self.reads[local] = f"({inline.text})"
            else:
                self.names["g" + local[1:]] = self.compiler.getter(ref)
                self.reads[local] = f"g{local[1:]}(evt)"
        return f"({local} if {local} is not U else ({local} := {self.reads[local]}))"

    def inline_field(self, ref: FieldRef) -> Inline | None:
        """The field table's expression for `ref` on this function's events, if it has one
        whose names do not clash with those already bound."""
        inline_for = getattr(self.fields, "inline", None)
        if inline_for is None or self.event_type is None or self.direction is None:
            return None
        if ref.transformers:
            return None
        inline: Inline | None = inline_for(ref.name, ref.arg, self.event_type, self.direction)
        if inline is None or inline.constant:
            return None
        for name, value in inline.names.items():
            if not name.startswith("_") or self.names.get(name, value) is not value:
                return None
        return inline

    def known_value(self, ref: FieldRef) -> tuple[object] | None:
        """``(value,)``: the value of `ref` on every event this function sees (its type, its
        direction, when the field table reads them with the compiler's own getters; a value
        the field table's inline form says is constant for this type and direction); else
        None."""
        if ref.transformers:
            return None
        known = self.known.get(ref.name)
        if known is not None and ref.arg is None:
            getter, value = known
            if self.fields.resolve(ref.name, None) is getter:
                return (value,)
        inline_for = getattr(self.fields, "inline", None)
        if inline_for is None or self.event_type is None or self.direction is None:
            return None
        inline: Inline | None = inline_for(ref.name, ref.arg, self.event_type, self.direction)
        if inline is not None and inline.constant:
            return (inline.value,)
        return None

    def visit_UnaryCheck(self, node: UnaryCheck) -> str:
        known = self.known_value(node.field)
        if known is not None:
            return _TRUE if known[0] is not ops.MISSING else _FALSE
        return f"({self.field(node.field)} is not M)"

    def visit_BinaryCheck(self, node: BinaryCheck) -> str:
        compiler = self.compiler
        if isinstance(node.value, FieldValue):
            check = field_comparison(
                compiler.getter(node.field), compiler.getter(node.value.field), node.op
            )
            return f"{self.constant(check, 'd')}(evt)"
        if names_a_list(node, compiler.lists):
            texts = expand_list(node.value.text, compiler.lists)  # type: ignore[union-attr]
            member = compiler.predicate(node, "in", texts)
            negate = node.op == "!="
            known = self.known_value(node.field)
            if known is not None:
                holds = known[0] is not ops.MISSING and member(known[0]) is not negate
                return _TRUE if holds else _FALSE
            strings = self.constant(frozenset(texts), "s")
            pred = self.constant(member, "p")
            value = self.field(node.field)
            test, other = ("not in", "not ") if negate else ("in", "")
            return (
                f"(v {test} {strings} if type(v := {value}) is str"
                f" else (v is not M and {other}{pred}(v)))"
            )
        texts = compiler.texts(node)
        pred_fn = compiler.predicate(node, node.op, texts)
        known = self.known_value(node.field)
        if known is not None:
            return _TRUE if known[0] is not ops.MISSING and pred_fn(known[0]) else _FALSE
        pred = self.constant(pred_fn, "p")
        generic = f"(v is not M and {pred}(v))"
        value = self.field(node.field)
        branches = self.inline(node.op, texts)
        if not branches:
            return f"((v := {value}) is not M and {pred}(v))"
        # the first branch binds v; a value of another type goes to the operator itself
        kind, test = branches[0]
        if len(branches) == 1:
            return f"({test} if type(v := {value}) is {kind} else {generic})"
        out = f"({test} if (t := type(v := {value})) is {kind}"
        for kind, test in branches[1:]:
            out += f" else {test} if t is {kind}"
        return out + f" else {generic})"

    def inline(self, op: str, texts: list[str]) -> list[tuple[str, str]]:
        """(type name, Python test on ``v``) pairs giving the `ops` predicate's result for a
        value of exactly that type; empty when the operator is left to `ops`."""
        if op in _PY_OPS:
            text = texts[0]
            py = _PY_OPS[op]
            branches = [("str", f"v {py} {self.constant(text)}")]
            num = ops.parse_number(text)
            if num is not None:
                branches.append(("int", f"v {py} {self.constant(num)}"))
            truth = text.strip().lower()
            if op in ("=", "==", "!=") and truth in ("true", "false"):
                want = (truth == "true") is (op != "!=")
                branches.append(("bool", f"v is {want}"))
            # the type the operand suggests first (``= true`` a bool, ``>= 0`` a number): the
            # branches exclude each other, their order only saves a test
            return branches[::-1]
        if op in ("in", "intersects"):
            strings = self.constant(frozenset(texts), "s")
            branches = [("str", f"v in {strings}")]
            nums = frozenset(n for n in map(ops.parse_number, texts) if n is not None)
            if nums:
                branches.append(("int", f"v in {self.constant(nums, 's')}"))
            return branches[::-1] if len(nums) == len(texts) else branches
        if op == "contains":
            return [("str", f"{self.constant(texts[0])} in v")]
        if op in _STR_METHODS:
            return [("str", _STR_METHODS[op].format(v="v", k=self.constant(texts[0])))]
        return []


def _is_atom(text: str) -> bool:
    """A macro body cheap enough to repeat rather than keep: one field check, no call chain
    of its own beyond the field local."""
    return text.count(" and ") + text.count(" or ") == 0 and text.count("(evt)") <= 1


def build(
    rules: Sequence[tuple[object, Expr, Sequence[Expr]]],
    *,
    event_type_name: str | None,
    direction: str | None = None,
    first: bool,
    macros: Mapping[str, Expr],
    lists: Mapping[str, Sequence[str]],
    fields: FieldTable,
) -> tuple[Matcher, str] | None:
    """The matcher of `rules` ((rule, condition, exceptions) in load order) for events of
    type `event_type_name` (None: any type, nothing folded) and direction `direction` (None:
    either), and its source; None when
    Python refuses the source (the caller keeps the closures).

    ``first`` returns at the first rule that matches (Falco's ``rule_matching: first``).
    """
    compiler = ConditionCompiler(macros, lists, fields)
    gen = _Source(compiler, fields, event_type_name, direction)
    body: list[str] = []
    for rule, expr, exceptions in rules:
        test = gen.visit(expr)
        if test != _FALSE and exceptions:
            excluded = (
                gen.visit(Or(tuple(exceptions)))
                if len(exceptions) > 1
                else gen.visit(exceptions[0])
            )
            if excluded == _TRUE:
                test = _FALSE
            elif excluded != _FALSE:
                test = test + f" and not {excluded}" if test != _TRUE else f"not {excluded}"
        if test == _FALSE:
            continue
        name = gen.constant(rule, "r")
        body.append(f"    if {test}:")
        if first:
            body.append(f"        return [{name}]")
        else:
            body.append(f"        if h is None:\n            h = [{name}]")
            body.append(f"        else:\n            h.append({name})")
    text = "\n".join(body)
    local_names: list[str] = []
    # a local read at one place only is read at most once anyway: no memo for it (outer
    # macros first: an inner macro's text sits inside its outer macro's)
    for name, local in reversed(gen.macro_locals.items()):
        memo = f"({local} if {local} is not U else ({local} := {gen.macro_text[name]}))"
        if text.count(f"({local} if {local} is not U") == 1:
            text = text.replace(memo, gen.macro_text[name])
        else:
            local_names.append(local)
    for local in gen.field_locals.values():
        memo = f"({local} if {local} is not U else ({local} := {gen.reads[local]}))"
        if text.count(memo) == 1:
            text = text.replace(memo, gen.reads[local])
        else:
            local_names.append(local)
    lines = ["def match(evt):"]
    if local_names:
        lines.append("    " + " = ".join(local_names) + " = U")
    lines.append("    h = None")
    lines.append(text)
    lines.append("    return h")
    source = "\n".join(lines) + "\n"
    if len(source) > MAX_SOURCE:
        return None
    namespace = dict(gen.names)
    try:
        code = _CODE.get(source)
        if code is None:
            code = compile(source, f"<rules:{event_type_name or '*'}>", "exec")
            if len(_CODE) >= _MAX_CODE:
                _CODE.clear()
            _CODE[source] = code
        exec(code, namespace)  # our own generated source, from the parsed rules
    except (SyntaxError, RecursionError, MemoryError):
        return None
    matcher: Matcher = namespace["match"]  # type: ignore[assignment]
    return matcher, source
