"""The generated matchers (rules/codegen.py) against the closures they are held to.

The closures of `compile_condition` are the definition: every case here evaluates both and
compares, over random conditions and events, every event of Falco's public captures with
Falco's stable rules and bastion's, and the paths where the engine keeps the closures.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from bastion.sensor.assemble import load_rules
from bastion.sensor.fields.model import AnyOf
from bastion.sensor.pipeline import Pipeline
from bastion.sensor.replay import open_replay
from bastion.sensor.rules import (
    MISSING,
    CompileError,
    Getter,
    codegen,
    compile_condition,
    parse_condition,
)
from bastion.sensor.rules.ast import And, Expr, Or
from bastion.sensor.rules.compiler import Inline, event_direction, event_type
from bastion.sensor.state import SensorState
from bastion_testing import falco_verdicts, shared_data

CAPTURES = ("falco", "captures")
TYPES = ("open", "openat", "execve", "connect", "close")


class Evt:
    """An event of a type and direction whose fields are a dict (absent key = MISSING)."""

    def __init__(self, kind: str, direction: str, values: dict[str, object]) -> None:
        self.type = kind
        self.dir = direction
        self.values = values
        self.reads: list[str] = []

    def __repr__(self) -> str:
        return f"Evt({self.type!r}, {self.dir!r}, {self.values!r})"


class Fields:
    """``evt.type`` is the compiler's own getter (so the generator folds it); every other name
    reads the event's dict."""

    def resolve(self, name: str, arg: str | None) -> Getter | None:
        if name == "evt.type" and arg is None:
            return event_type
        if name == "evt.dir" and arg is None:
            return event_direction
        key = name if arg is None else f"{name}[{arg}]"

        def get(evt: object) -> object:
            assert isinstance(evt, Evt)
            evt.reads.append(key)
            return evt.values.get(key, MISSING)

        return get

    def inline(self, name: str, arg: str | None, kind: str, direction: str) -> Inline | None:
        """``a.s`` read inline; ``a.c``, which no event has, known to be unreadable."""
        del kind, direction
        if arg is not None:
            return None
        if name == "a.c":
            return Inline(constant=True, value=MISSING)
        if name == "a.s":
            return Inline("evt.values.get('a.s', _tx_missing)", {"_tx_missing": MISSING})
        return None


# --- random conditions and events -------------------------------------------------------------

WORDS: tuple[str, ...] = (
    "bash",
    "sh",
    "/etc/shadow",
    "/etc",
    "/usr/lib/x.so",
    "10",
    "0x0a",
    "-1",
    "true",
    "",
)
WORDS += ("false", "1.5", "a b", "ETC", "10.0.0.0/8", "1.2.3.4", "*sh", "/etc/*", "b[a-s]sh")
LISTS = {"shells": ["bash", "sh", "'zsh'"], "nums": ["1", "10", "-1"], "both": ["shells", "x"]}
MACROS_TEXT = {
    "m_sh": "a.s in (shells)",
    "m_num": "a.n >= 0 and a.n != 10",
    "m_nest": "(m_sh or a.b = true) and not m_num",
    "m_type": "evt.type in (open, openat) and a.s exists",
}
FIELDS = ("a.s", "a.n", "a.b", "a.l", "a.x", "tolower(a.s)", "len(a.l)", "basename(a.s)", "a.c")
SCALAR_OPS: tuple[str, ...] = (
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "contains",
    "icontains",
    "startswith",
)
SCALAR_OPS += ("endswith", "glob", "iglob", "regex")
LIST_OPS = ("in", "intersects", "pmatch")


def quoted(word: str) -> str:
    return "'" + word + "'"


def random_check(rng: random.Random) -> str:
    field = rng.choice(FIELDS)
    roll = rng.random()
    if roll < 0.06:
        return f"{field} exists"
    if roll < 0.16:
        if roll < 0.1:
            return (
                f"evt.type {rng.choice(['in', 'intersects'])} ({', '.join(rng.sample(TYPES, 2))})"
            )
        return f"evt.type {rng.choice(['=', '!=', 'startswith'])} {rng.choice(TYPES)}"
    if roll < 0.13:
        return f"evt.dir {rng.choice(['=', '!='])} {rng.choice('<>')}"
    if roll < 0.2:
        return f"{field} {rng.choice(['=', '!=', '<', 'contains'])} val({rng.choice(FIELDS[:5])})"
    if roll < 0.25:
        return f"{field} {rng.choice(['=', '!='])} {rng.choice(list(LISTS))}"  # legacy lists
    if roll < 0.28:
        return f"a.y bcontains {rng.choice(['CAFE', '00', '6261'])}"
    if roll < 0.5:
        items = [quoted(w) for w in rng.sample(WORDS, rng.randint(1, 4))]
        items += rng.sample(list(LISTS), rng.randint(0, 1))
        return f"{field} {rng.choice(LIST_OPS)} ({', '.join(items)})"
    op = rng.choice(SCALAR_OPS)
    if op in ("<", "<=", ">", ">="):  # Falco takes numbers only after these
        return f"{field} {op} {rng.choice(['10', '0x0a', '-1', '1.5', '0'])}"
    return f"{field} {op} {quoted(rng.choice(WORDS))}"


def random_condition(rng: random.Random, depth: int = 0) -> str:
    roll = rng.random()
    if depth > 3 or roll < 0.35:
        return random_check(rng)
    if roll < 0.45:
        return rng.choice(list(MACROS_TEXT))
    if roll < 0.55:
        return f"not {random_condition(rng, depth + 1)}"
    joiner = " and " if roll < 0.8 else " or "
    parts = [random_condition(rng, depth + 1) for _ in range(rng.randint(2, 4))]
    return "(" + joiner.join(parts) + ")"


def random_value(rng: random.Random) -> object:
    return rng.choice(
        [
            MISSING,
            rng.choice(WORDS),
            rng.choice([0, 1, 10, -1, 3]),
            rng.choice([True, False]),
            1.5,
            b"\xca\xfe" if rng.random() < 0.5 else b"ba",
            ipaddress.ip_address(rng.choice(["10.1.2.3", "1.2.3.4", "::1"])),
            ipaddress.ip_network("10.0.0.0/24"),
            [rng.choice(WORDS) for _ in range(rng.randint(0, 3))],
            (1, 10),
            AnyOf(rng.sample(WORDS, 2)),
            "SH" if rng.random() < 0.5 else "bash",
        ]
    )


def random_event(rng: random.Random) -> Evt:
    values = {f: random_value(rng) for f in FIELDS if rng.random() < 0.85 and f != "a.c"}
    values["a.y"] = random_value(rng)
    for name in ("a.s", "a.n", "a.b"):  # typed the way real fields mostly are
        if rng.random() < 0.6:
            values[name] = {"a.s": rng.choice(WORDS), "a.n": rng.randint(-2, 11)}.get(
                name, rng.random() < 0.5
            )
    return Evt(rng.choice(TYPES), rng.choice("<>"), values)


MACROS: dict[str, Expr] = {name: parse_condition(text) for name, text in MACROS_TEXT.items()}


def both(
    rules: list[tuple[object, Expr, tuple[Expr, ...]]],
    event: Evt,
    *,
    first: bool,
    direction: str | None,
) -> tuple[list[object], list[object]]:
    """(the closures' hits, the generated matcher's hits) for `event`."""
    expected = []
    for rule, expr, exceptions in rules:
        holds = compile_condition(expr, macros=MACROS, lists=LISTS, fields=Fields())
        excluded = [
            compile_condition(e, macros=MACROS, lists=LISTS, fields=Fields()) for e in exceptions
        ]
        if holds(event) and not any(e(event) for e in excluded):
            expected.append(rule)
            if first:
                break
    built = codegen.build(
        rules,
        event_type_name=event.type,
        direction=direction,
        first=first,
        macros=MACROS,
        lists=LISTS,
        fields=Fields(),
    )
    assert built is not None
    return expected, list(built[0](event) or [])


@pytest.mark.parametrize("seed", range(8))
def test_random_conditions_match_as_the_closures(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(60):
        rules: list[tuple[object, Expr, tuple[Expr, ...]]] = []
        for index in range(rng.randint(1, 4)):
            exceptions = tuple(
                parse_condition(random_condition(rng, 2)) for _ in range(rng.randint(0, 2))
            )
            expr = parse_condition(random_condition(rng))
            try:  # a condition Falco would refuse (a bad regex) is no case
                for one in (expr, *exceptions):
                    compile_condition(one, macros=MACROS, lists=LISTS, fields=Fields())
            except CompileError:
                continue
            rules.append((f"r{index}", expr, exceptions))
        for _ in range(25):
            event = random_event(rng)
            for first in (True, False):
                direction = event.dir if rng.random() < 0.5 else None
                expected, got = both(rules, event, first=first, direction=direction)
                assert got == expected, (rules, event, first)


def test_checks_on_the_event_type_are_folded_away() -> None:
    rules = [("r", parse_condition("evt.type in (open, openat) and a.s = bash"), ())]
    kwargs = {"first": True, "macros": {}, "lists": {}, "fields": Fields()}
    execve = codegen.build(rules, event_type_name="execve", **kwargs)  # type: ignore[arg-type]
    assert execve is not None
    matcher = execve[0]
    event = Evt("execve", "<", {"a.s": "bash"})
    assert matcher(event) is None
    assert event.reads == []  # never reached the field: the type check decided
    opened = codegen.build(rules, event_type_name="open", **kwargs)  # type: ignore[arg-type]
    assert opened is not None
    assert "evt.type" not in opened[1]
    assert opened[0](Evt("open", "<", {"a.s": "bash"})) == ["r"]


def test_checks_on_the_direction_are_folded_away() -> None:
    rules = [("r", parse_condition("evt.dir = < and a.s = bash"), ())]
    kwargs = {"first": True, "macros": {}, "lists": {}, "fields": Fields()}
    enter = codegen.build(rules, event_type_name="open", direction=">", **kwargs)  # type: ignore[arg-type]
    assert enter is not None
    event = Evt("open", ">", {"a.s": "bash"})
    assert enter[0](event) is None
    assert event.reads == []
    leave = codegen.build(rules, event_type_name="open", direction="<", **kwargs)  # type: ignore[arg-type]
    assert leave is not None
    assert leave[0](Evt("open", "<", {"a.s": "bash"})) == ["r"]


def test_a_field_is_read_once_per_event_however_many_checks_use_it() -> None:
    cond = "a.s = x or a.s startswith y or (a.s contains z and a.s != w) or m_sh or m_sh"
    rules = [("r", parse_condition(cond), (parse_condition("a.s = q"),))]
    built = codegen.build(
        rules, event_type_name="open", first=True, macros=MACROS, lists=LISTS, fields=Fields()
    )
    assert built is not None
    event = Evt("open", "<", {"a.s": "nothing"})
    assert built[0](event) is None
    assert event.reads == ["a.s"]


def test_source_python_refuses_leaves_the_closures() -> None:
    # built, not parsed: our parser stops at 100 levels, macros can nest that much more
    deep: Expr = parse_condition("a.s = x")
    for _ in range(150):  # deeper than CPython's parser nests parentheses
        deep = Or((parse_condition("a.n = 1"), And((parse_condition("a.s = y"), deep))))
    rules: list[tuple[object, Expr, tuple[Expr, ...]]] = [("r", deep, ())]
    built = codegen.build(
        rules, event_type_name="open", first=True, macros={}, lists={}, fields=Fields()
    )
    assert built is None


# --- the engine's choice, on real rules files ---------------------------------------------------


RULE = """
- rule: shell
  desc: d
  condition: evt.type = execve and proc.name in (bash, sh)
  output: shell %proc.name
  priority: WARNING
"""


def engine_for(tmp_path: Path) -> object:
    path = tmp_path / "rules.yaml"
    path.write_text(RULE)
    state = SensorState(runtime_roots=(), proc_root="/nonexistent", host_root="/nonexistent")
    return load_rules([str(path)], state).engine


def test_the_environment_switch_keeps_the_closures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bastion.sensor.rules.engine import RuleEngine

    engine = engine_for(tmp_path)
    assert isinstance(engine, RuleEngine)
    assert engine.matcher("execve") != engine.match_closures
    assert engine.matcher_source("execve") is not None
    monkeypatch.setenv(codegen.CODEGEN_ENV, "0")
    off = engine_for(tmp_path)
    assert isinstance(off, RuleEngine)
    assert off.matcher("execve") == off.match_closures
    off.use_generated(True)
    assert off.matcher("execve") != off.match_closures
    engine.use_generated(False)
    assert engine.matcher("execve", "<") == engine.match_closures


def test_a_source_too_large_leaves_the_closures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bastion.sensor.rules.engine import RuleEngine

    monkeypatch.setattr(codegen, "MAX_SOURCE", 10)
    engine = engine_for(tmp_path)
    assert isinstance(engine, RuleEngine)
    assert engine.matcher("execve") == engine.match_closures
    assert engine.matcher_source("execve") is None


def test_a_reload_reuses_the_compiled_code_with_its_own_rules(tmp_path: Path) -> None:
    from bastion.sensor.rules.engine import RuleEngine

    first, second = engine_for(tmp_path), engine_for(tmp_path)
    assert isinstance(first, RuleEngine)
    assert isinstance(second, RuleEngine)
    one, two = first.matcher("execve", "<"), second.matcher("execve", "<")
    assert one.__code__ is two.__code__
    assert one.__globals__ is not two.__globals__
    assert {id(v) for v in one.__globals__.values()} & {id(r) for r in first.rules}
    assert not {id(v) for v in two.__globals__.values()} & {id(r) for r in first.rules}


# --- every event of Falco's captures, with Falco's stable rules and bastion's ------------------


def captures() -> Iterator[Path]:
    yield from sorted(shared_data.shared_path(*CAPTURES).glob("*.scap"))


def rules_paths(tmp_path: Path) -> list[str]:
    """Falco's stable rules, bastion's, and one rule per macro of theirs
    (`falco_verdicts.with_every_macro`): true verdicts, and alerts, on both paths."""
    return falco_verdicts.with_every_macro(tmp_path)


def alerts(
    files: list[str], capture: Path, generate: bool, matching: str
) -> list[tuple[str, str, str]]:
    state = SensorState(runtime_roots=(), proc_root="/nonexistent", host_root="/nonexistent")
    state.live = False
    engine = load_rules(files, state, rule_matching=matching).engine
    engine.use_generated(generate)
    pipeline = Pipeline(engine=engine, state=state, hostname="test")
    fed = pipeline.feed(open_replay(str(capture), state))
    return [(a.rule, a.priority, a.output) for a in fed]


@shared_data.needs(*CAPTURES)
@shared_data.needs(*shared_data.FALCO_RULES)
@pytest.mark.parametrize("matching", ["all", "first"])
def test_every_capture_alerts_alike_on_both_paths(matching: str, tmp_path: Path) -> None:
    files = rules_paths(tmp_path)
    total = 0
    for capture in captures():
        generated = alerts(files, capture, True, matching)
        assert generated == alerts(files, capture, False, matching), capture.name
        total += len(generated)
    assert total > 1000  # the comparison is not of empty lists


@shared_data.needs(*CAPTURES)
@shared_data.needs(*shared_data.FALCO_RULES)
def test_every_capture_event_meets_the_same_rules_on_both_paths(tmp_path: Path) -> None:
    """Per event, with ``all``: each candidate rule's verdict, not only the alerts'."""
    files = rules_paths(tmp_path)
    events = hits = 0
    for capture in captures():
        state = SensorState(runtime_roots=(), proc_root="/nonexistent", host_root="/nonexistent")
        state.live = False
        engine = load_rules(files, state, rule_matching="all").engine
        for event in open_replay(str(capture), state):
            state.apply(event)
            fast = [rule.name for rule in engine.match(event)]
            assert fast == [rule.name for rule in engine.match_closures(event)], (capture, event)
            events += 1
            hits += len(fast)
    assert events > 10_000
    assert hits > 1000


@shared_data.needs(*CAPTURES)
def test_inline_fields_read_what_their_getters_read_on_every_capture_event() -> None:
    """The field table's inline forms (fields/*.py `FieldDef.inline`) against the getters they
    specialise, on every event of the captures, each read as the generated code reads it."""
    from bastion.sensor.fields.registry import ALL_FIELDS, FieldRegistry

    inlined = [f for f in ALL_FIELDS if f.inline is not None]
    assert {"fd.name", "fd.num", "fd.nameraw", "evt.is_open_read", "container.id"} <= {
        f.name for f in inlined
    }
    compiled: dict[tuple[str, str, str], object] = {}
    checked = 0
    for capture in captures():
        state = SensorState(runtime_roots=(), proc_root="/nonexistent", host_root="/nonexistent")
        state.live = False
        table = FieldRegistry(state)
        compiled.clear()  # an inline form may hold its table's state
        for event in open_replay(str(capture), state):
            state.apply(event)
            for field in inlined:
                key = (field.name, event.type, event.dir)
                if key not in compiled:
                    inline = table.inline(field.name, None, event.type, event.dir)
                    if inline is None:  # none for this kind of event: the getter is read
                        compiled[key] = None
                        continue
                    compiled[key] = (
                        (lambda evt, value=inline.value: value)
                        if inline.constant
                        else eval(f"lambda evt: ({inline.text})", dict(inline.names))
                    )
                read = compiled[key]
                if read is None:
                    continue
                getter = table.resolve(field.name, None)
                assert getter is not None
                got, want = read(event), getter(event)  # type: ignore[operator]
                assert type(got) is type(want) and got == want, (field.name, event)
                checked += 1
    assert checked > 50_000
