"""Stage 2 of the rules pipeline: apply falco's redefinition, append and override semantics.

Follows falco's ``rule_loader_collector``: items are applied in file order, files in the order
given. A later definition with the same name replaces the earlier one in place (a warning says
so); ``append: true`` (deprecated) and ``override: {key: append|replace}`` change an existing
item and are errors when the item is undefined; a rule item with only ``enabled`` toggles an
existing rule. Conditions are joined with a space, as falco does, and parsed once all files
are in; a syntax error is reported at its position inside the YAML. Rules whose ``source`` is
not ``syscall`` need a plugin, which bastion does not support: they are skipped with a warning.
Undefined macro and list references are left to the compiler.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bastion.sensor.rules.ast import And, BinaryCheck, Expr, Identifier, ListValue, Not, Or, walk
from bastion.sensor.rules.checks import check_exception, check_lists, check_macros
from bastion.sensor.rules.errors import ConditionSyntaxError
from bastion.sensor.rules.loader import RulesFileError, load_items, locate
from bastion.sensor.rules.model import (
    ConditionPart,
    ExceptionDef,
    ListDef,
    MacroDef,
    Mark,
    RawItem,
    RuleDef,
    RuleSet,
)
from bastion.sensor.rules.parser import parse_condition
from bastion.sensor.rules.version import (
    ENGINE_VERSION,
    FALCO_VERSION,
    engine_version_text,
    parse_engine_version,
)

_REQUIRED_RULE_KEYS = ("condition", "output", "desc", "priority")
_SUPPORTED_SOURCE = "syscall"


@dataclass(frozen=True, slots=True)
class References:
    """Names a condition uses: `macros` as expressions, `lists` as values or list items.

    A bare word inside a list (``(bash, sh)``) is counted as a list name: it is one only if a
    list of that name exists.
    """

    macros: frozenset[str]
    lists: frozenset[str]


def referenced_names(expr: Expr) -> References:
    """The macro and list names `expr` refers to (the compiler checks they exist)."""
    macros: set[str] = set()
    lists: set[str] = set()
    if isinstance(expr, Identifier):
        macros.add(expr.name)
    for node in walk(expr):
        if isinstance(node, And | Or):
            macros.update(c.name for c in node.children if isinstance(c, Identifier))
        elif isinstance(node, Not) and isinstance(node.child, Identifier):
            macros.add(node.child.name)
        elif isinstance(node, BinaryCheck) and isinstance(node.value, Identifier):
            lists.add(node.value.name)
        elif isinstance(node, ListValue):
            lists.update(i.name for i in node.items if isinstance(i, Identifier))
    return References(frozenset(macros), frozenset(lists))


def load_rules_files(paths: list[str]) -> RuleSet:
    """Load rules files in order and return the final lists, macros and rules.

    Raises `RulesFileError` (``rules-yaml-syntax``, ``rules-file-invalid`` or
    ``rule-condition-syntax``) with ``file:line:col`` as `where`.
    """
    collector = Collector()
    for path in paths:
        items, warnings = load_items(path)
        collector.warnings.extend(warnings)
        for item in items:
            collector.add(item)
    return collector.finish()


@dataclass
class _Macro:
    mark: Mark
    parts: list[ConditionPart]


@dataclass
class _Rule:
    mark: Mark
    parts: list[ConditionPart]
    values: dict[str, object]
    exceptions: list[ExceptionDef] = field(default_factory=list)


def _part(item: RawItem, offset: int) -> ConditionPart:
    text = str(item.fields["condition"])
    return ConditionPart(offset, text, item.spans.get("condition"), item.marks["condition"])


def _append_part(parts: list[ConditionPart], item: RawItem) -> None:
    last = parts[-1]
    parts.append(_part(item, last.offset + len(last.text) + 1))


def _merge_exceptions(current: list[ExceptionDef], new: tuple[ExceptionDef, ...]) -> None:
    """falco: an appended exception with a known name adds its values, others are added."""
    for exc in new:
        index = next((i for i, old in enumerate(current) if old.name == exc.name), None)
        if index is None:
            current.append(exc)
        else:
            old = current[index]
            current[index] = ExceptionDef(
                old.name,
                old.mark,
                old.fields,
                old.comps,
                old.values + exc.values,
                fields_mark=old.fields_mark,
                comps_mark=old.comps_mark,
                value_marks=old.value_marks + exc.value_marks,
            )


class Collector:
    """Accumulates `RawItem`s; `finish()` parses conditions and returns the `RuleSet`."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.lists: dict[str, ListDef] = {}
        self.macros: dict[str, _Macro] = {}
        self.rules: dict[str, _Rule] = {}
        self.skipped: set[str] = set()
        self.engine_version: str | None = None
        self.plugins: list[tuple[str, str]] = []

    def add(self, item: RawItem) -> None:
        """Apply one item (raises `RulesFileError` for a bad append or override)."""
        if item.kind == "required_engine_version":
            self._engine_version(item)
        elif item.kind == "required_plugin_versions":
            self.plugins.extend(item.fields[item.kind])  # type: ignore[arg-type]
        elif item.kind == "list":
            self._list(item)
        elif item.kind == "macro":
            self._macro(item)
        else:
            self._rule(item)

    def _engine_version(self, item: RawItem) -> None:
        """Falco's check: the version must parse, and this engine must meet it."""
        text = str(item.fields[item.kind])
        where = str(item.marks.get(item.kind, item.mark))
        version = parse_engine_version(text)
        if version is None:
            raise RulesFileError(
                f"required_engine_version {text!r} is not a version (Falco expects x.y.z, "
                "or an integer N meaning 0.N.0, and refuses anything else)",
                where=where,
                hint=f"bastion's engine version is {engine_version_text()}",
                reference="rules-engine-version",
            )
        if version > ENGINE_VERSION:
            raise RulesFileError(
                f"the rules require engine version {text}, but bastion's engine version is "
                f"{engine_version_text()} (Falco {FALCO_VERSION}'s rule language): the file "
                "may use rule syntax or fields this engine does not have",
                where=where,
                hint="use rules written for this engine version or older",
                reference="rules-engine-version",
            )
        current = self.engine_version
        if current is None or version > (parse_engine_version(current) or (0, 0, 0)):
            self.engine_version = text

    def _error(self, item: RawItem, message: str, key: str | None = None) -> RulesFileError:
        mark = item.marks.get(key, item.mark) if key else item.mark
        return RulesFileError(f"{item.kind} '{item.name}': {message}", where=str(mark))

    def _mode(self, item: RawItem, key: str) -> str | None:
        """``append``, ``replace`` or None (a plain definition) for `key` of `item`."""
        override = item.fields.get("override")
        append = item.fields.get("append", False)
        if override is not None and append:
            raise self._error(item, "cannot use both 'append' and 'override'", "override")
        if append:
            return "append"
        if isinstance(override, dict):
            extra = [k for k in item.fields if k not in override and k != "override"]
            if extra:
                raise self._error(item, f"key '{extra[0]}' has no entry in 'override'", extra[0])
            missing = [k for k in override if k not in item.fields]
            if missing:
                raise self._error(item, f"override of '{missing[0]}' needs a value", "override")
            mode = override.get(key)
            return str(mode) if mode is not None else "replace"
        return None

    def _require(self, item: RawItem, *keys: str) -> None:
        for key in keys:
            if key not in item.fields:
                raise self._error(item, f"missing required key '{key}'")

    def _redefine(self, item: RawItem, known: bool) -> None:
        if known:
            self.warnings.append(f"{item.mark}: {item.kind} '{item.name}': overriding definition")

    def _undefined(self, item: RawItem, mode: str) -> RulesFileError:
        verb = "append to" if mode == "append" else "override"
        return self._error(item, f"cannot {verb} an undefined {item.kind}")

    def _list(self, item: RawItem) -> None:
        mode = self._mode(item, "items")
        self._require(item, "items")
        items: tuple[str, ...] = item.fields["items"]  # type: ignore[assignment]
        old = self.lists.get(item.name)
        if mode is None:
            self._redefine(item, old is not None)
            self.lists[item.name] = ListDef(item.name, items, item.mark)
        elif old is None:
            raise self._undefined(item, mode)
        elif mode == "append":
            self.lists[item.name] = ListDef(item.name, old.items + items, old.mark)
        else:
            self.lists[item.name] = ListDef(item.name, items, old.mark)

    def _macro(self, item: RawItem) -> None:
        mode = self._mode(item, "condition")
        self._require(item, "condition")
        old = self.macros.get(item.name)
        if mode is None:
            self._redefine(item, old is not None)
            self.macros[item.name] = _Macro(item.mark, [_part(item, 0)])
        elif old is None:
            raise self._undefined(item, mode)
        elif mode == "append":
            _append_part(old.parts, item)
        else:
            old.parts[:] = [_part(item, 0)]

    def _rule(self, item: RawItem) -> None:
        fields = item.fields
        is_change = bool(fields.get("append")) or "override" in fields
        enabled_only = set(fields) == {"enabled"}
        if not is_change and not enabled_only:
            self._define_rule(item)
            return
        old = self.rules.get(item.name)
        if old is None:
            if item.name in self.skipped:
                return
            if enabled_only:
                raise self._error(item, "cannot enable or disable an undefined rule", "enabled")
            raise self._undefined(item, "append" if fields.get("append") else "override")
        if enabled_only:
            old.values["enabled"] = fields["enabled"]
            return
        self._mode(item, "condition")  # validates append/override against the item's keys
        if fields.get("append") and "condition" not in fields and "exceptions" not in fields:
            raise self._error(item, "an appended rule needs 'condition' or 'exceptions'")
        for key in [k for k in fields if k not in ("append", "override")]:
            mode = self._mode(item, key)
            if fields.get("append") and key not in ("condition", "exceptions"):
                continue  # falco's deprecated append only touches these two
            self._change_rule(old, item, key, mode or "replace")

    def _change_rule(self, old: _Rule, item: RawItem, key: str, mode: str) -> None:
        value = item.fields[key]
        if key == "condition":
            if mode == "append":
                _append_part(old.parts, item)
            else:
                old.parts[:] = [_part(item, 0)]
        elif key == "exceptions":
            new: tuple[ExceptionDef, ...] = value  # type: ignore[assignment]
            if mode == "append":
                _merge_exceptions(old.exceptions, new)
            else:
                old.exceptions[:] = list(new)
        elif mode == "append" and key == "tags":
            tags: tuple[str, ...] = old.values.get("tags", ())  # type: ignore[assignment]
            old.values["tags"] = tags + tuple(t for t in value if t not in tags)  # type: ignore[attr-defined]
        elif mode == "append":
            old.values[key] = f"{old.values.get(key, '')} {value}"
        else:
            old.values[key] = value

    def _define_rule(self, item: RawItem) -> None:
        source = str(item.fields.get("source", _SUPPORTED_SOURCE))
        if source != _SUPPORTED_SOURCE:
            self.warnings.append(
                f"{item.mark}: rule '{item.name}': source '{source}' needs a plugin, which "
                "bastion does not support: rule skipped"
            )
            self.skipped.add(item.name)
            self.rules.pop(item.name, None)
            return
        self._require(item, *_REQUIRED_RULE_KEYS)
        self._redefine(item, item.name in self.rules)
        self.skipped.discard(item.name)
        values = {k: v for k, v in item.fields.items() if k not in ("condition", "exceptions")}
        exceptions: tuple[ExceptionDef, ...] = item.fields.get("exceptions", ())  # type: ignore[assignment]
        self.rules[item.name] = _Rule(item.mark, [_part(item, 0)], values, list(exceptions))

    def finish(self) -> RuleSet:
        """Parse every condition and return the final definitions."""
        macros = {}
        for name, macro in self.macros.items():
            text, expr = _parse(f"macro '{name}'", macro.parts)
            macros[name] = MacroDef(name, text, expr, macro.mark, tuple(macro.parts))
        check_macros(macros)
        check_lists(self.lists)
        rules = {}
        for name, rule in self.rules.items():
            text, expr = _parse(f"rule '{name}'", rule.parts)
            v = rule.values
            rules[name] = RuleDef(
                name=name,
                condition=text,
                expr=expr,
                output=str(v["output"]),
                priority=str(v["priority"]),
                desc=str(v["desc"]),
                mark=rule.mark,
                tags=v.get("tags", ()),  # type: ignore[arg-type]
                enabled=bool(v.get("enabled", True)),
                source=str(v.get("source", _SUPPORTED_SOURCE)),
                exceptions=tuple(rule.exceptions),
                warn_evttypes=bool(v.get("warn_evttypes", True)),
                skip_if_unknown_filter=bool(v.get("skip-if-unknown-filter", False)),
                actions=v.get("action", ()),  # type: ignore[arg-type]
                parts=tuple(rule.parts),
            )
            for item in rule.exceptions:
                check_exception(rules[name], item)
        return RuleSet(
            dict(self.lists),
            macros,
            rules,
            list(self.warnings),
            self.engine_version,
            tuple(self.plugins),
        )


def _parse(chain: str, parts: list[ConditionPart]) -> tuple[str, Expr]:
    text = " ".join(part.text for part in parts)
    try:
        return text, parse_condition(text)
    except ConditionSyntaxError as exc:
        part = next((p for p in reversed(parts) if p.offset <= exc.pos), parts[0])
        local = min(exc.pos - part.offset, len(part.text))
        mark = locate(part.span, part.text, local) if part.span else part.mark
        raise RulesFileError(
            f"{chain} → condition: {exc.message}\n{exc.caret(text)}",
            where=str(mark),
            reference="rule-condition-syntax",
        ) from exc
