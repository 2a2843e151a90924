"""Stage 4 of the rules pipeline: a loaded `RuleSet` compiled into a matcher indexed by event type.

`RuleEngine.build` compiles every enabled rule once (condition with its exceptions, and its
output through the caller's output compiler), then indexes rules by the event types their
condition can match (falco ``evttype_index_ruleset``): an event only meets the rules of its own
type plus the rules that can match any type. `match` follows Falco's ``rule_matching``:
``first`` (Falco's default) returns the first matching rule in load order, ``all`` every one.

What Falco would refuse is an `EngineError` naming ``file:line:col`` and the rule; what Falco
would skip with a warning (a rule whose source is a plugin's, a rule with ``skip-if-unknown-
filter`` that uses an unknown field, a rule below the minimum priority) is skipped and listed in
`warnings`.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field

from bastion.errors import BastionError
from bastion.sensor.outputs.alert import PRIORITIES
from bastion.sensor.outputs.alert import priority_rank as alert_priority_rank
from bastion.sensor.rules import codegen
from bastion.sensor.rules.ast import Expr
from bastion.sensor.rules.compiler import (
    CompileError,
    Condition,
    FieldTable,
    MatchScope,
    compile_condition,
    event_direction,
    event_types,
)
from bastion.sensor.rules.errors import ConditionSyntaxError
from bastion.sensor.rules.exceptions import exception_text
from bastion.sensor.rules.loader import locate
from bastion.sensor.rules.model import ConditionPart, ExceptionDef, Mark, RuleDef, RuleSet
from bastion.sensor.rules.parser import parse_condition
from bastion.sensor.rules.selection import NAME_MATCH, Selector, is_enabled

RULE_MATCHING = ("first", "all")
SYSCALL_SOURCE = "syscall"


def priority_rank(text: str) -> int:
    """0 for Emergency ... 7 for Debug; raises `EngineError` for anything else."""
    rank = alert_priority_rank(text)
    if rank is None:
        raise EngineError(
            f"unknown priority {text!r}",
            hint="use one of " + ", ".join(PRIORITIES),
            reference="rule-priority",
        )
    return rank


class EngineError(BastionError):
    """Raised by `RuleEngine.build` for a rule that cannot be compiled (unknown field, undefined
    macro or list, a bad operand, a bad exception) and for bad engine options."""

    reference = "rule-compile"


@dataclass(frozen=True, slots=True, eq=False)
class CompiledRule:
    """One rule ready to run: its predicate, compiled output and the event types it needs."""

    name: str
    priority: str  # Falco's spelling: "Warning"
    rank: int  # 0 = Emergency
    condition: Condition
    output: object  # whatever the output compiler returned (None without one)
    event_types: frozenset[str] | None  # None: any event type
    tags: tuple[str, ...]
    source: str
    definition: RuleDef
    order: int  # position in load order
    # the parsed condition and exceptions the generated matchers are written from
    expr: Expr | None = None
    exceptions: tuple[Expr, ...] = ()


OutputCompiler = Callable[[str], object]
AnyMatcher = Callable[[object], "Sequence[CompiledRule] | None"]
#: (event type, direction or None, its matcher) -> the matcher to use instead
MatcherWrapper = Callable[[str, "str | None", AnyMatcher], AnyMatcher]


@dataclass(slots=True)
class RuleEngine:
    """Rules indexed by event type. Build with `RuleEngine.build`."""

    rules: list[CompiledRule]
    rule_matching: str = "first"
    warnings: list[str] = field(default_factory=list)
    _by_type: dict[str, tuple[CompiledRule, ...]] = field(default_factory=dict)
    _any_type: tuple[CompiledRule, ...] = ()
    matches: dict[str, int] = field(default_factory=dict)
    scope: MatchScope = field(default_factory=MatchScope)
    # what the generated matchers are compiled against (rules/codegen.py), and whether they
    # are (`codegen.CODEGEN_ENV`); one matcher per event type met, made on its first event
    macros: dict[str, Expr] = field(default_factory=dict)
    lists: dict[str, tuple[str, ...]] = field(default_factory=dict)
    fields: FieldTable | None = None
    generate: bool = True
    _matchers: dict[str, Callable[[object], Sequence[CompiledRule] | None]] = field(
        default_factory=dict
    )
    _exit: dict[str, Callable[[object], Sequence[CompiledRule] | None]] = field(
        default_factory=dict
    )
    _enter: dict[str, Callable[[object], Sequence[CompiledRule] | None]] = field(
        default_factory=dict
    )
    # the field table reads evt.dir off the event itself, so `match` may pick matchers by
    # direction as well (the events have one)
    _directed: bool = False
    # what each matcher made from now on is handed through (`wrap_matchers`)
    _wrap: MatcherWrapper | None = None

    @classmethod
    def build(
        cls,
        ruleset: RuleSet,
        fields: FieldTable,
        *,
        output_compiler: OutputCompiler | None = None,
        rule_matching: str = "first",
        min_priority: str = "debug",
        enabled_rules: Iterable[str] = (),
        disabled_rules: Iterable[str] = (),
        disabled_tags: Iterable[str] = (),
        event_names: Container[str] | None = None,
        selection: Sequence[Selector] = (),
        name_match: str = "substring",
    ) -> RuleEngine:
        """Compile `ruleset`; `enabled_rules`/`disabled_rules` override each rule's ``enabled``
        and `disabled_tags` disables rules carrying any of them (Falco's ``-D``/``-T``).
        `event_names`, when given, are the names ``evt.type`` may be compared with.
        `selection` enables and disables rules by name and tag in order (Falco's precedence,
        `bastion.sensor.rules.selection`), after the three lists above; `name_match` is how
        its rule names match (``substring``, Falco 0.34's ``-D``, or ``exact``)."""
        if name_match not in NAME_MATCH:
            raise EngineError(
                f"unknown rule name matching {name_match!r}",
                hint="use 'substring' (the default, as Falco 0.34's -D) or 'exact'",
                reference="rule-matching",
            )
        if rule_matching not in RULE_MATCHING:
            raise EngineError(
                f"unknown rule_matching {rule_matching!r}",
                hint="use 'first' (Falco's default) or 'all'",
                reference="rule-matching",
            )
        floor = priority_rank(min_priority)
        force_on, force_off = set(enabled_rules), set(disabled_rules)
        off_tags = set(disabled_tags)
        macros = {name: m.expr for name, m in ruleset.macros.items()}
        lists = {name: lst.items for name, lst in ruleset.lists.items()}
        warnings = list(ruleset.warnings)
        scope = MatchScope()
        compiled: list[CompiledRule] = []
        for order, rule in enumerate(ruleset.rules.values()):
            enabled = rule.enabled and not (off_tags & set(rule.tags))
            if rule.name in force_on:
                enabled = True
            if rule.name in force_off:
                enabled = False
            if selection:
                enabled = is_enabled(rule.name, rule.tags, enabled, selection, name_match)
            if not enabled:
                continue
            if rule.source != SYSCALL_SOURCE:
                warnings.append(
                    f"{rule.mark}: rule '{rule.name}': source '{rule.source}' needs a Falco "
                    "plugin; plugins are not supported, the rule is skipped"
                )
                continue
            rank = priority_rank(rule.priority)
            if rank > floor:
                continue
            built = _compile_rule(
                rule, ruleset, macros, lists, fields, warnings, event_names, scope
            )
            if built is None:
                continue
            condition, types, exception_exprs = built
            output = None
            if output_compiler is not None:
                try:
                    # YAML folded scalars end in a newline; Falco trims outputs too
                    output = output_compiler(rule.output.strip())
                except BastionError as exc:
                    raise EngineError(
                        f"rule '{rule.name}': output: {exc.message}",
                        where=str(rule.mark),
                        hint=exc.hint,
                        reference=exc.reference or "rule-output",
                    ) from exc
            if types is None and rule.warn_evttypes:
                warnings.append(
                    f"{rule.mark}: rule '{rule.name}' matches every event type (add an "
                    "evt.type condition, or warn_evttypes: false to silence this)"
                )
            compiled.append(
                CompiledRule(
                    name=rule.name,
                    priority=PRIORITIES[rank],
                    rank=rank,
                    condition=condition,
                    output=output,
                    event_types=None if types is None else frozenset(types),
                    tags=rule.tags,
                    source=rule.source,
                    definition=rule,
                    order=order,
                    expr=rule.expr,
                    exceptions=exception_exprs,
                )
            )
        engine = cls(
            compiled,
            rule_matching,
            warnings,
            scope=scope,
            macros=macros,
            lists=lists,
            fields=fields,
            generate=codegen.enabled(),
            _directed=fields.resolve("evt.dir", None) is event_direction,
        )
        engine._index()
        return engine

    def _index(self) -> None:
        by_type: dict[str, list[CompiledRule]] = {}
        any_type: list[CompiledRule] = []
        for rule in self.rules:
            if rule.event_types is None:
                any_type.append(rule)
                continue
            for name in rule.event_types:
                by_type.setdefault(name, []).append(rule)
        # an event of type T meets T's rules and the any-type rules, in load order
        self._any_type = tuple(any_type)
        self._by_type = {
            name: tuple(sorted([*rules, *any_type], key=lambda r: r.order))
            for name, rules in by_type.items()
        }

    def candidates(self, event_type: str) -> tuple[CompiledRule, ...]:
        """The rules an event of `event_type` is evaluated against, in load order."""
        return self._by_type.get(event_type, self._any_type)

    @property
    def event_types(self) -> frozenset[str] | None:
        """Every event type some rule needs, or None when a rule takes any type."""
        if self._any_type:
            return None
        return frozenset(self._by_type)

    def match(self, event: object) -> list[CompiledRule]:
        """The rules `event` triggers: the first in load order, or all (``rule_matching``).

        Through the event type's generated matcher (`codegen`), else the closures; either
        reads each field and evaluates each macro at most once for the event."""
        kind: str = event.type  # type: ignore[attr-defined]
        direction = event.dir if self._directed else None  # type: ignore[attr-defined]
        if direction == "<":
            matcher = self._exit.get(kind) or self.matcher(kind, "<")
        elif direction == ">":
            matcher = self._enter.get(kind) or self.matcher(kind, ">")
        else:
            matcher = self._matchers.get(kind) or self.matcher(kind)
        hits = matcher(event)
        if not hits:
            return []
        self.count(hits)
        return hits  # type: ignore[return-value]  # a fresh list from either matcher

    def count(self, hits: Iterable[CompiledRule]) -> None:
        """Count `hits`, an event's matched rules, in `matches` (what `match` does with them)."""
        matches = self.matches
        for rule in hits:
            matches[rule.name] = matches.get(rule.name, 0) + 1

    def tables(self) -> tuple[dict[str, AnyMatcher], dict[str, AnyMatcher], dict[str, AnyMatcher]]:
        """The matchers made so far, by event type, as `match` picks them: for exit events,
        for enter events, and for either (the only table when `directed` is false). The
        dicts themselves, which stay the same objects for the engine's life."""
        return self._exit, self._enter, self._matchers

    @property
    def directed(self) -> bool:
        """Whether `match` picks a matcher by the event's direction as well as its type."""
        return self._directed

    def match_closures(self, event: object) -> list[CompiledRule]:
        """`match`'s answer from the compiled closures alone (the definition the generated
        matchers are held to), without counting. Each macro is evaluated at most once for
        the event (`MatchScope`)."""
        hits: list[CompiledRule] = []
        scope = self.scope
        scope.serial += 1
        try:
            for rule in self._by_type.get(event.type, self._any_type):  # type: ignore[attr-defined]
                if rule.condition(event):
                    hits.append(rule)
                    if self.rule_matching == "first":
                        break
        finally:
            scope.serial += 1  # no macro result outlives this event's evaluation
        return hits

    def use_generated(self, on: bool) -> None:
        """Match through generated matchers (`on`) or the closures from the next event on
        (what `codegen.CODEGEN_ENV` chose at build)."""
        self.generate = on
        for table in (self._matchers, self._exit, self._enter):
            table.clear()

    def wrap_matchers(self, wrapper: MatcherWrapper | None) -> None:
        """Hand every matcher made from the next event on through `wrapper` (None: none),
        which returns the matcher of that event type and direction to use: the same answers,
        perhaps sooner (`bastion.sensor.open_verdicts`)."""
        self._wrap = wrapper
        for table in (self._matchers, self._exit, self._enter):
            table.clear()

    def matcher_source(self, event_type: str, direction: str | None = None) -> str | None:
        """The generated source of the matcher of `event_type` events (of `direction`, ``<``
        or ``>``; None: either), None when they run on closures."""
        built = self._generate(event_type, direction)
        return None if built is None else built[1]

    def matcher(
        self, kind: str, direction: str | None = None
    ) -> Callable[[object], Sequence[CompiledRule] | None]:
        """The function `match` calls for events of `kind` and `direction` (generated, or
        the closures), made on the first such event and kept."""
        matcher: Callable[[object], Sequence[CompiledRule] | None] = self.match_closures
        table = {"<": self._exit, ">": self._enter}.get(direction or "", self._matchers)
        full = len(table) >= _MAX_MATCHERS  # event types are few; a bound all the same
        if not self.candidates(kind):
            matcher = _no_rules
        elif self.generate and not full:  # past the bound, nothing generated per event
            built = self._generate(kind, direction)
            if built is not None:
                matcher = built[0]  # type: ignore[assignment]
        if self._wrap is not None and matcher is not _no_rules:
            matcher = self._wrap(kind, direction, matcher)
        if not full:
            table[kind] = matcher
        return matcher

    def _generate(
        self, kind: str, direction: str | None = None
    ) -> tuple[codegen.Matcher, str] | None:
        rules = self.candidates(kind)
        if self.fields is None or any(r.expr is None for r in rules):
            return None
        return codegen.build(
            [(r, r.expr, r.exceptions) for r in rules],  # type: ignore[misc]
            event_type_name=kind,
            direction=direction,
            first=self.rule_matching == "first",
            macros=self.macros,
            lists=self.lists,
            fields=self.fields,
        )


_MAX_MATCHERS = 4096


def _no_rules(event: object) -> None:
    """The matcher of an event type no rule can match."""
    del event


def _compile_rule(
    rule: RuleDef,
    ruleset: RuleSet,
    macros: dict[str, Expr],
    lists: dict[str, tuple[str, ...]],
    fields: FieldTable,
    warnings: list[str],
    event_names: Container[str] | None = None,
    scope: MatchScope | None = None,
) -> tuple[Condition, set[str] | None, tuple[Expr, ...]] | None:
    """The rule's predicate (condition and not any exception) and its event types.

    The condition and each exception are compiled separately, so a compile error's offset
    stays relative to the text it came from.
    """
    try:
        condition = compile_condition(
            rule.expr,
            macros=macros,
            lists=lists,
            fields=fields,
            event_names=event_names,
            scope=scope,
        )
        excluded: list[Condition] = []
        exprs: list[Expr] = []
        for item in rule.exceptions:
            _check_exception_fields(rule, item, fields)
            text = exception_text(item, lists)
            if text is not None:
                expr, check = _compile_exception(rule, item, text, macros, lists, fields, scope)
                exprs.append(expr)
                excluded.append(check)
    except CompileError as exc:
        if rule.skip_if_unknown_filter and exc.reference == "rule-unknown-field":
            warnings.append(f"{rule.mark}: rule '{rule.name}' skipped: {exc.message}")
            return None
        raise _located(rule, ruleset, exc) from exc
    types = event_types(rule.expr, macros, lists)
    if not excluded:
        return condition, types, ()
    if len(excluded) == 1:
        (only,) = excluded
        return (lambda evt: condition(evt) and not only(evt)), types, tuple(exprs)
    return (
        (lambda evt: condition(evt) and not any(e(evt) for e in excluded)),
        types,
        tuple(exprs),
    )


def _check_exception_fields(rule: RuleDef, item: ExceptionDef, fields: FieldTable) -> None:
    """Every field an exception names is known, even when it has no values yet (Falco)."""
    names = (item.fields,) if isinstance(item.fields, str) else item.fields or ()
    for name in names:
        try:
            expr = parse_condition(f"{name} exists")
            compile_condition(expr, macros={}, lists={}, fields=fields)
        except ConditionSyntaxError as exc:
            raise EngineError(
                f"rule '{rule.name}': exception '{item.name}': {name!r} is not a field name "
                "(Falco refuses an exception whose fields are not fields)",
                where=str(item.fields_mark or item.mark),
                reference="rule-exception",
            ) from exc
        except CompileError as exc:
            if rule.skip_if_unknown_filter:
                raise
            raise EngineError(
                f"rule '{rule.name}': exception '{item.name}': unknown field {name!r} (Falco "
                "refuses an exception on a field it does not know)",
                where=str(item.fields_mark or item.mark),
                hint=_HINTS["rule-unknown-field"],
                reference="rule-exception",
            ) from exc


def _compile_exception(
    rule: RuleDef,
    item: ExceptionDef,
    text: str,
    macros: dict[str, Expr],
    lists: dict[str, tuple[str, ...]],
    fields: FieldTable,
    scope: MatchScope | None = None,
) -> tuple[Expr, Condition]:
    try:
        expr = parse_condition(text)
        return expr, compile_condition(expr, macros=macros, lists=lists, fields=fields, scope=scope)
    except ConditionSyntaxError as exc:
        index, what = _wrong_value(item, lists)
        marks = item.value_marks
        raise EngineError(
            f"rule '{rule.name}': exception '{item.name}': {what}",
            where=str(marks[index] if index < len(marks) else item.mark),
            hint="check the exception's fields, comps and values",
            reference="rule-exception",
        ) from exc
    except CompileError as exc:
        if exc.reference == "rule-unknown-field" and rule.skip_if_unknown_filter:
            raise
        raise EngineError(
            f"rule '{rule.name}': exception '{item.name}': {exc.message}",
            where=str(item.mark),
            hint=_HINTS.get(exc.reference or ""),
            reference=exc.reference,
        ) from exc


def _wrong_value(item: ExceptionDef, lists: dict[str, tuple[str, ...]]) -> tuple[int, str]:
    """Which value of `item` breaks its condition, and why, in the terms of the rules file."""
    for index, value in enumerate(item.values):
        alone = ExceptionDef(item.name, item.mark, item.fields, item.comps, (value,))
        text = exception_text(alone, lists)
        try:
            parse_condition(text or "")
        except ConditionSyntaxError:
            kind = "list" if "(" in str(value) else "value"
            return index, (
                f"value {_shown(value)} does not make a valid {kind} for its comparison (quote a "
                "value that holds spaces, commas or parentheses; write a list (a, b) or [a, b])"
            )
    return len(item.values), "its values do not make a valid condition together"


def _shown(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return repr(value)


def _located(rule: RuleDef, ruleset: RuleSet, exc: CompileError) -> EngineError:
    """`exc` with the file:line:col of its node: in the macro that holds it, or the rule."""
    chain = f"rule '{rule.name}'"
    parts: tuple[ConditionPart, ...] = rule.parts
    fallback = rule.mark
    if exc.macro is not None:
        chain += f" → macro '{exc.macro}'"
        macro = ruleset.macros.get(exc.macro)
        parts = macro.parts if macro else ()
        fallback = macro.mark if macro else rule.mark
    where = _position(parts, exc.pos) if parts else fallback
    return EngineError(
        f"{chain}: {exc.message}",
        where=str(where),
        hint=_HINTS.get(exc.reference or ""),
        reference=exc.reference,
    )


def _position(parts: Sequence[ConditionPart], pos: int) -> Mark:
    part = next((p for p in reversed(parts) if p.offset <= pos), parts[0])
    local = pos - part.offset
    return locate(part.span, part.text, local) if part.span else part.mark


_HINTS = {
    "rule-unknown-field": "`bastion fields` lists the fields bastion knows",
    "rule-undefined-macro": "define the macro before the rule, or check its spelling",
    "rule-undefined-list": "define the list before the rule, or check its spelling",
}
