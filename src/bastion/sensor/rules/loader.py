"""Stage 1 of the rules pipeline: read rules files into `RawItem`s, with a mark on every field.

Like falco's ``rule_loader_reader``, files are composed (``yaml.compose`` with the C loader) and
the node tree is walked by hand, so every error carries ``file:line:col`` and the item chain
("rule 'X' → priority: ..."), as falco's ``rule_loader::context`` does. Item kinds are tried
in falco's order: required_engine_version, required_plugin_versions, list, macro, rule; other
items and unknown keys are warnings, as in falco. Appends and overrides are the collector's job.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from pathlib import Path

import yaml

from bastion.errors import BastionError
from bastion.sensor.rules.model import (
    RULE_ACTIONS,
    ExceptionDef,
    ExceptionValue,
    Mark,
    RawItem,
    ScalarSpan,
)

# falco's priorities (``falco_common::parse_priority``), matched case-insensitively.
PRIORITIES = {
    "emergency": "emergency",
    "alert": "alert",
    "critical": "critical",
    "error": "error",
    "warning": "warning",
    "notice": "notice",
    "informational": "informational",
    "info": "informational",
    "debug": "debug",
}
_PRIORITY_TEXT = "emergency, alert, critical, error, warning, notice, informational/info, debug"

KEYS = {
    "list": frozenset({"list", "items", "append", "override"}),
    "macro": frozenset({"macro", "condition", "append", "override"}),
    "rule": frozenset(
        {
            "rule",
            "condition",
            "output",
            "priority",
            "desc",
            "tags",
            "enabled",
            "source",
            "exceptions",
            "warn_evttypes",
            "skip-if-unknown-filter",
            "action",  # bastion's: what the sensor does on a match (model.RULE_ACTIONS)
            "append",
            "override",
        }
    ),
}
# Which fields `override` may append to or replace (falco rule_loader_reader.cpp).
OVERRIDE_APPEND = {
    "list": frozenset({"items"}),
    "macro": frozenset({"condition"}),
    "rule": frozenset({"condition", "output", "desc", "tags", "exceptions"}),
}
OVERRIDE_REPLACE = {
    "list": frozenset({"items"}),
    "macro": frozenset({"condition"}),
    "rule": frozenset(
        {
            "condition",
            "output",
            "desc",
            "priority",
            "tags",
            "exceptions",
            "enabled",
            "warn_evttypes",
            "skip-if-unknown-filter",
            "action",
        }
    ),
}
_TRUE = frozenset({"true", "yes", "on", "y"})
_FALSE = frozenset({"false", "no", "off", "n"})
_BOOL_TAG = "tag:yaml.org,2002:bool"
_NULL_TAG = "tag:yaml.org,2002:null"


class RulesFileError(BastionError):
    """Raised when a rules file cannot be read or an item is malformed.

    `reference` is ``rules-file-invalid`` (wrong type, missing key, bad append/override),
    ``rules-yaml-syntax`` (the YAML does not parse) or ``rule-condition-syntax`` (raised by the
    collector for a condition that does not parse); `where` is ``file:line:col``.
    """

    reference = "rules-file-invalid"


def mark_of(file: str, node: yaml.Node) -> Mark:
    """The 1-based position where `node` starts."""
    return Mark(file, node.start_mark.line + 1, node.start_mark.column + 1)


def load_items(path: str) -> tuple[list[RawItem], list[str]]:
    """Read one rules file: its items in file order and the warnings found."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesFileError(f"cannot read rules file: {exc}", where=path) from exc
    return _Reader(path, text).read()


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return repr(node.value)
    return "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"


class _Reader:
    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.warnings: list[str] = []

    def read(self) -> tuple[list[RawItem], list[str]]:
        """Items of every YAML document in the file (``---`` separates them, as Falco reads)."""
        items: list[RawItem] = []
        for root in self._compose():
            if root is None:
                continue
            if not isinstance(root, yaml.SequenceNode):
                raise self._error(root, "rules content", "expected a list of items")
            items.extend(item for node in root.value if (item := self._item(node)) is not None)
        return items, self.warnings

    def _compose(self) -> list[yaml.Node | None]:
        try:
            nodes: list[yaml.Node | None] = list(
                yaml.compose_all(self.text, Loader=yaml.CSafeLoader)
            )
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"{self.path}:{mark.line + 1}:{mark.column + 1}" if mark else self.path
            problem = exc.problem or exc.context or "invalid YAML"
            raise RulesFileError(problem, where=where, reference="rules-yaml-syntax") from exc
        except yaml.YAMLError as exc:  # ReaderError: a character YAML does not allow
            position = getattr(exc, "position", 0)
            line = self.text.count("\n", 0, position) + 1
            col = position - self.text.rfind("\n", 0, position)
            raise RulesFileError(
                str(exc).splitlines()[0] if str(exc) else "invalid YAML",
                where=f"{self.path}:{line}:{col}",
                reference="rules-yaml-syntax",
            ) from exc
        return nodes

    def _error(self, node: yaml.Node, chain: str, message: str) -> RulesFileError:
        return RulesFileError(f"{chain}: {message}", where=str(mark_of(self.path, node)))

    def _item(self, node: yaml.Node) -> RawItem | None:
        if not isinstance(node, yaml.MappingNode):
            raise self._error(node, "item", f"expected a mapping, found {_describe(node)}")
        pairs: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise self._error(key, "item", "keys must be strings")
            pairs[key.value] = (key, value)
        mark = mark_of(self.path, node)
        for req in ("required_engine_version", "required_plugin_versions"):
            if req in pairs:
                return self._requirement(req, pairs[req][1], mark)
        found = next((k for k in ("list", "macro", "rule") if k in pairs), None)
        if found is None:
            self.warnings.append(f"{mark}: unknown top level object: {sorted(pairs)}")
            return None
        kind = found
        name = self._name(kind, pairs[kind][1])
        chain = f"{kind} '{name}'"
        fields: dict[str, object] = {}
        marks: dict[str, Mark] = {}
        spans: dict[str, ScalarSpan] = {}
        for key, (key_node, value) in pairs.items():
            if key == kind:
                continue
            if key not in KEYS[kind]:
                where = mark_of(self.path, key_node)
                self.warnings.append(f"{where}: {chain}: unknown key '{key}' (ignored)")
                continue
            decode = self._decoders()[key]
            fields[key] = decode(f"{chain} → {key}", value, kind)
            marks[key] = mark_of(self.path, value)
            if isinstance(value, yaml.ScalarNode):
                spans[key] = ScalarSpan(
                    self.path,
                    value.style,
                    (value.start_mark.line, value.start_mark.column),
                    (value.end_mark.line, value.end_mark.column),
                    self.text,
                )
        return RawItem(kind, name, mark, fields, marks, spans)

    def _name(self, kind: str, node: yaml.Node) -> str:
        name = self._str(f"{kind} name", node, kind)
        if not name:
            raise self._error(node, f"{kind} name", "must not be empty")
        return name

    def _requirement(self, kind: str, node: yaml.Node, mark: Mark) -> RawItem:
        marks = {kind: mark_of(self.path, node)}
        if kind == "required_engine_version":
            return RawItem(kind, "", mark, {kind: self._str(kind, node, kind)}, marks, {})
        if not isinstance(node, yaml.SequenceNode):
            raise self._error(node, kind, f"expected a list, found {_describe(node)}")
        plugins: list[tuple[str, str]] = []
        for entry in node.value:
            if not isinstance(entry, yaml.MappingNode):
                raise self._error(entry, kind, f"expected a mapping, found {_describe(entry)}")
            values = {k.value: v for k, v in entry.value if isinstance(k, yaml.ScalarNode)}
            for key in ("name", "version"):
                if key not in values:
                    raise self._error(entry, f"{kind} → plugin", f"missing required key '{key}'")
            plugins.append(
                (self._str(kind, values["name"], kind), self._str(kind, values["version"], kind))
            )
        return RawItem(kind, "", mark, {kind: tuple(plugins)}, marks, {})

    def _decoders(self) -> dict[str, Callable[[str, yaml.Node, str], object]]:
        return {
            "condition": self._str,
            "output": self._str,
            "desc": self._str,
            "source": self._str,
            "priority": self._priority,
            "tags": self._str_list,
            "items": self._str_list,
            "enabled": self._bool,
            "append": self._bool,
            "warn_evttypes": self._bool,
            "skip-if-unknown-filter": self._bool,
            "exceptions": self._exceptions,
            "override": self._override,
            "action": self._actions,
        }

    def _str(self, chain: str, node: yaml.Node, kind: str) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self._error(node, chain, f"expected a string, found {_describe(node)}")
        return "" if node.tag == _NULL_TAG else str(node.value)

    def _bool(self, chain: str, node: yaml.Node, kind: str) -> bool:
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL_TAG:
            if node.value.lower() in _TRUE:
                return True
            if node.value.lower() in _FALSE:
                return False
        raise self._error(node, chain, f"expected true or false, found {_describe(node)}")

    def _priority(self, chain: str, node: yaml.Node, kind: str) -> str:
        if isinstance(node, yaml.ScalarNode) and node.value.lower() in PRIORITIES:
            return PRIORITIES[node.value.lower()]
        raise self._error(node, chain, f"expected one of {_PRIORITY_TEXT}, found {_describe(node)}")

    def _actions(self, chain: str, node: yaml.Node, kind: str) -> tuple[str, ...]:
        """`action: kill_process` or `action: [alert, pause_container]`."""
        names = self._str_or_list(chain, node, kind)
        actions = (names,) if isinstance(names, str) else names
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for action, item in zip(actions, items, strict=True):
            if action not in RULE_ACTIONS:
                raise self._error(
                    item, chain, f"expected one of {', '.join(RULE_ACTIONS)}, found '{action}'"
                )
        return actions

    def _str_list(self, chain: str, node: yaml.Node, kind: str) -> tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode):
            raise self._error(node, chain, f"expected a list, found {_describe(node)}")
        return tuple(self._str(chain, item, kind) for item in node.value)

    def _str_or_list(self, chain: str, node: yaml.Node, kind: str) -> str | tuple[str, ...]:
        if isinstance(node, yaml.SequenceNode):
            return self._str_list(chain, node, kind)
        return self._str(chain, node, kind)

    def _value(self, chain: str, node: yaml.Node, depth: int = 0) -> ExceptionValue:
        if isinstance(node, yaml.SequenceNode) and depth < 2:
            return tuple(self._value(chain, item, depth + 1) for item in node.value)
        return self._str(chain, node, "")

    def _mark_of(self, node: yaml.Node | None) -> Mark | None:
        return None if node is None else mark_of(self.path, node)

    def _override(self, chain: str, node: yaml.Node, kind: str) -> dict[str, str]:
        if not isinstance(node, yaml.MappingNode):
            raise self._error(node, chain, f"expected a mapping, found {_describe(node)}")
        result: dict[str, str] = {}
        for key, value in node.value:
            name = self._str(chain, key, kind)
            how = self._str(f"{chain} → {name}", value, kind)
            allowed = OVERRIDE_APPEND[kind] if how == "append" else OVERRIDE_REPLACE[kind]
            if how not in ("append", "replace"):
                raise self._error(
                    value, f"{chain} → {name}", f"expected append or replace, found {how!r}"
                )
            if name not in allowed:
                raise self._error(key, f"{chain} → {name}", f"cannot {how} this key")
            result[name] = how
        return result

    def _exceptions(self, chain: str, node: yaml.Node, kind: str) -> tuple[ExceptionDef, ...]:
        if not isinstance(node, yaml.SequenceNode):
            raise self._error(node, chain, f"expected a list, found {_describe(node)}")
        result: list[ExceptionDef] = []
        for entry in node.value:
            if not isinstance(entry, yaml.MappingNode):
                raise self._error(entry, chain, f"expected a mapping, found {_describe(entry)}")
            values = {self._str(chain, k, kind): v for k, v in entry.value}
            if "name" not in values:
                raise self._error(entry, chain, "missing required key 'name'")
            name = self._str(f"{chain} → name", values["name"], kind)
            sub = f"{chain} '{name}'"
            for key in values.keys() - {"name", "fields", "comps", "values"}:
                self.warnings.append(f"{mark_of(self.path, entry)}: {sub}: unknown key '{key}'")
            raw_values: tuple[ExceptionValue, ...] = ()
            value_marks: tuple[Mark, ...] = ()
            if "values" in values:
                node_values = values["values"]
                if not isinstance(node_values, yaml.SequenceNode):
                    raise self._error(node_values, f"{sub} → values", "expected a list")
                raw_values = tuple(self._value(f"{sub} → values", v) for v in node_values.value)
                value_marks = tuple(mark_of(self.path, v) for v in node_values.value)
            result.append(
                ExceptionDef(
                    name,
                    mark_of(self.path, entry),
                    self._str_or_list(f"{sub} → fields", values["fields"], kind)
                    if "fields" in values
                    else None,
                    self._str_or_list(f"{sub} → comps", values["comps"], kind)
                    if "comps" in values
                    else None,
                    raw_values,
                    fields_mark=self._mark_of(values.get("fields")),
                    comps_mark=self._mark_of(values.get("comps")),
                    value_marks=value_marks,
                )
            )
        return tuple(result)


def locate(span: ScalarSpan, value: str, pos: int) -> Mark:
    """The file position of offset `pos` in a scalar's `value`.

    Exact for plain and quoted single-line scalars; for block and folded scalars the value's
    non-blank characters are matched in order against the source text, which skips indentation,
    line folding and escapes.
    """
    source = span.source
    starts = [0]
    starts.extend(i + 1 for i, c in enumerate(source) if c == "\n")

    def index(line: int, col: int) -> int:
        return starts[line] + col if line < len(starts) else len(source)

    start, end = index(*span.start), index(*span.end)
    if span.style in ("|", ">"):
        newline = source.find("\n", start, end)
        start = newline + 1 if newline >= 0 else end
    elif span.style in ("'", '"'):
        start += 1
    j = start
    pos = min(max(pos, 0), len(value))
    for ch in value[:pos]:
        if ch.isspace():
            continue
        found = source.find(ch, j, end)
        if found < 0:
            break
        j = found + 1
    if pos < len(value) and not value[pos].isspace():
        found = source.find(value[pos], j, end)
        j = found if found >= 0 else j
    line = bisect.bisect_right(starts, j) - 1
    return Mark(span.file, line + 1, j - starts[line] + 1)
