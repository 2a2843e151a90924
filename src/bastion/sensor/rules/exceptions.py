"""A rule's ``exceptions`` as condition text, the way Falco's rule compiler writes them.

Falco (``rule_loader_compiler.cpp``) turns each exception item into a disjunction of value
tuples and appends ``and not (...)`` to the rule's condition:

- ``fields`` a list: each value is a tuple aligned with the fields; a tuple becomes
  ``(f1 c1 v1 and f2 c2 v2)``; ``comps`` defaults to ``=`` for every field;
- ``fields`` one field: ``comps`` one operator (default ``in``) and the values are the
  operator's list: ``f in (v1, v2)``.

A value for a list operator (``in``, ``intersects``, ``pmatch``) that is itself a list is written
as a parenthesised list; a bare name of a defined list, or a list written in parentheses
(``(my_list)``, ``(a, b)``), is pasted as written so the compiler expands it; a value already
quoted (``'"cat /dev/null"'`` in YAML) is pasted with its quotes, as Falco does; any other value
is quoted. An item with no values adds nothing.
"""

from __future__ import annotations

from collections.abc import Container, Sequence

from bastion.sensor.rules.model import ExceptionDef, ExceptionValue

LIST_COMPS = frozenset({"in", "intersects", "pmatch"})


def quote(text: str) -> str:
    """A value as a double-quoted condition string (the lexer's escapes undone)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def is_quoted(text: str) -> bool:
    """Whether `text` is one quoted string, as Falco's exception writer tests it."""
    return len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'"


def _value(value: ExceptionValue, comp: str, lists: Container[str]) -> str:
    if comp in LIST_COMPS:
        if isinstance(value, tuple):
            return "(" + ", ".join(_scalar(v, lists) for v in value) + ")"
        if value in lists or (value.startswith("(") and value.endswith(")")):
            return value
        return "(" + _scalar(value, lists) + ")"
    if isinstance(value, tuple):
        # Falco accepts a one-element list for a scalar comparison
        return _scalar(value[0], lists) if len(value) == 1 else quote(" ".join(map(str, value)))
    return value if is_quoted(value) else quote(value)


def _scalar(value: ExceptionValue, lists: Container[str]) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_scalar(v, lists) for v in value) + ")"
    return value if value in lists or is_quoted(value) else quote(value)


def _as_tuple(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else value


def exception_text(item: ExceptionDef, lists: Container[str]) -> str | None:
    """The condition one exception item adds (to be negated), or None if it has no values."""
    if not item.values:
        return None
    if isinstance(item.fields, str):
        comp = item.comps if isinstance(item.comps, str) else "in"
        if comp in LIST_COMPS:
            if len(item.values) == 1 and not isinstance(item.values[0], tuple):
                return f"{item.fields} {comp} {_value(item.values[0], comp, lists)}"
            rhs = "(" + ", ".join(_scalar(v, lists) for v in item.values) + ")"
            return f"{item.fields} {comp} {rhs}"
        return " or ".join(f"{item.fields} {comp} {_value(v, comp, lists)}" for v in item.values)
    fields = _as_tuple(item.fields)
    comps = _as_tuple(item.comps) or tuple("=" for _ in fields)
    alternatives: list[str] = []
    for value in item.values:
        row: Sequence[ExceptionValue] = value if isinstance(value, tuple) else (value,)
        checks = [
            f"{field} {comp} {_value(v, comp, lists)}"
            for field, comp, v in zip(fields, comps, row, strict=False)
        ]
        alternatives.append("(" + " and ".join(checks) + ")")
    return " or ".join(alternatives)


def with_exceptions(condition: str, items: Sequence[ExceptionDef], lists: Container[str]) -> str:
    """`condition` with ``and not (...)`` for each exception item that has values."""
    texts = [t for t in (exception_text(i, lists) for i in items) if t]
    if not texts:
        return condition
    return f"({condition}) and not ({' or '.join(texts)})"
