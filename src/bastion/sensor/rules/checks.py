"""Checks of a whole loaded ruleset that Falco makes at load, before any event is seen.

A rule that loads must be a rule that can fire: what would otherwise load and then silently never
match (or silence its rule) is refused here with the ``file:line:col`` of the offending text and
what Falco means by it:

- macro references: every macro a macro names is defined, even in a macro no rule uses (an
  overwritten macro that names an undefined one included); no macro refers to itself through
  others; no chain of macros is deeper than `MAX_MACRO_DEPTH`, so compiling stays well inside
  Python's recursion limit;
- list references: no list contains itself through other lists;
- exceptions: each has ``fields``; ``fields`` and ``comps`` have the same shape and length; each
  comparison operator is one of Falco's; each value of a multi-field exception gives one item
  per field. (Unknown fields need the field table: the engine checks them.)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from bastion.sensor.rules import lexer
from bastion.sensor.rules.ast import And, Expr, Identifier, Not, Or, walk
from bastion.sensor.rules.loader import RulesFileError, locate
from bastion.sensor.rules.model import ConditionPart, ExceptionDef, ListDef, MacroDef, Mark, RuleDef

# Real rulesets nest macros about ten deep; a chain of hundreds is a generated or broken file.
MAX_MACRO_DEPTH = 100
# The operators an exception's comps may use: Falco's binary comparison operators.
EXCEPTION_COMPS = frozenset(lexer.NUM_OPS + lexer.STR_OPS + lexer.LIST_OPS)


def position(parts: Sequence[ConditionPart], pos: int, fallback: Mark) -> Mark:
    """The file position of offset `pos` in a condition joined from `parts`."""
    if not parts:
        return fallback
    part = next((p for p in reversed(parts) if p.offset <= pos), parts[0])
    local = pos - part.offset
    return locate(part.span, part.text, local) if part.span else part.mark


def macro_references(expr: Expr) -> Iterator[Identifier]:
    """The identifiers `expr` uses as macros (not the ones used as list names)."""
    if isinstance(expr, Identifier):
        yield expr
    for node in walk(expr):
        if isinstance(node, And | Or):
            yield from (c for c in node.children if isinstance(c, Identifier))
        elif isinstance(node, Not) and isinstance(node.child, Identifier):
            yield node.child


def check_macros(macros: Mapping[str, MacroDef]) -> None:
    """Undefined references, cycles and chains deeper than `MAX_MACRO_DEPTH`, in every macro."""
    refs: dict[str, list[Identifier]] = {}
    for name, macro in macros.items():
        refs[name] = list(macro_references(macro.expr))
        for used in refs[name]:
            if used.name not in macros:
                raise RulesFileError(
                    f"macro '{name}': undefined macro '{used.name}' (Falco refuses a macro that "
                    "names a macro defined nowhere, even when no rule uses it)",
                    where=str(position(macro.parts, used.pos, macro.mark)),
                    hint="define the macro, or check its spelling",
                    reference="rule-undefined-macro",
                )
    depth: dict[str, int] = {}
    for root in macros:
        if root in depth:
            continue
        # iterative depth-first search: a chain of thousands must not exhaust the Python stack
        path: list[str] = [root]
        on_path = {root}
        iters: list[Iterator[Identifier]] = [iter(refs[root])]
        while iters:
            ref: Identifier | None = next(iters[-1], None)
            current = path[-1]
            if ref is None:
                depth[current] = 1 + max((depth[r.name] for r in refs[current]), default=0)
                iters.pop()
                on_path.discard(path.pop())
                if depth[current] > MAX_MACRO_DEPTH:
                    raise _too_deep(macros, current, refs)
                continue
            if ref.name in on_path:
                chain = " -> ".join([*path[path.index(ref.name) :], ref.name])
                macro = macros[current]
                raise RulesFileError(
                    f"macro '{current}' refers to itself through {chain} (Falco refuses a "
                    "macro loop: the condition would never end)",
                    where=str(position(macro.parts, ref.pos, macro.mark)),
                    hint="break the loop",
                    reference="rule-macro-cycle",
                )
            if ref.name not in depth:
                path.append(ref.name)
                on_path.add(ref.name)
                iters.append(iter(refs[ref.name]))


def _too_deep(
    macros: Mapping[str, MacroDef], name: str, refs: Mapping[str, list[Identifier]]
) -> RulesFileError:
    return RulesFileError(
        f"macro '{name}' starts a chain of more than {MAX_MACRO_DEPTH} nested macros; bastion "
        "refuses chains this deep (Falco would exhaust its stack expanding them)",
        where=str(macros[name].mark),
        hint="flatten the chain: a macro may use a list or several macros side by side",
        reference="rule-macro-depth",
    )


def check_lists(lists: Mapping[str, ListDef]) -> None:
    """No list contains itself, directly or through the lists it names."""
    done: set[str] = set()
    for root in lists:
        if root in done:
            continue
        path = [root]
        iters = [iter(lists[root].items)]
        while iters:
            item = next(iters[-1], None)
            if item is None:
                iters.pop()
                done.add(path.pop())
                continue
            if item not in lists or item in done:
                continue
            if item in path:
                chain = " -> ".join([*path[path.index(item) :], item])
                raise RulesFileError(
                    f"list '{path[-1]}' contains itself through {chain} (Falco refuses a list "
                    "loop: its items would never end)",
                    where=str(lists[path[-1]].mark),
                    hint="break the loop",
                    reference="rule-list-cycle",
                )
            path.append(item)
            iters.append(iter(lists[item].items))


def _as_tuple(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else value


def _shown(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return str(value)


def check_exception(rule: RuleDef, item: ExceptionDef) -> None:
    """The shape of one exception item, as Falco's rule loader checks it."""
    chain = f"rule '{rule.name}': exception '{item.name}'"

    def error(message: str, mark: Mark | None) -> RulesFileError:
        return RulesFileError(
            f"{chain}: {message}",
            where=str(mark or item.mark),
            hint="an exception is fields: [f1, f2], comps: [op1, op2], values: [[v1, v2], ...] "
            "or fields: f, comps: op, values: [v1, v2]",
            reference="rule-exception",
        )

    if item.fields is None:
        raise error(
            "has no 'fields' (Falco refuses it: 'fields' says what its values are compared with)",
            None,
        )
    single = isinstance(item.fields, str)
    if item.comps is not None and isinstance(item.comps, str) != single:
        raise error(
            "'fields' and 'comps' must both be a list or both a single name (Falco compares "
            "the n-th field with the n-th operator)",
            item.comps_mark,
        )
    fields = _as_tuple(item.fields)
    comps = _as_tuple(item.comps)
    if comps and len(comps) != len(fields):
        raise error(
            f"{len(fields)} fields but {len(comps)} comps (Falco refuses unequal lengths: "
            "the n-th field is compared with the n-th operator)",
            item.comps_mark,
        )
    for comp in comps:
        if comp not in EXCEPTION_COMPS:
            raise error(
                f"unknown comparison operator '{comp}' (Falco accepts "
                + ", ".join(sorted(EXCEPTION_COMPS))
                + ")",
                item.comps_mark,
            )
    for i, value in enumerate(item.values):
        mark = item.value_marks[i] if i < len(item.value_marks) else None
        if value == ():
            raise error(
                "value [] is empty (Falco refuses it: there is nothing to compare with)", mark
            )
        if single:
            continue
        row = value if isinstance(value, tuple) else (value,)
        if len(row) != len(fields):
            raise error(
                f"value {_shown(value)} has {len(row)} item(s) for {len(fields)} fields "
                f"({', '.join(fields)}) (Falco refuses it: each value gives one item per field, "
                "in the order of 'fields')",
                mark,
            )
