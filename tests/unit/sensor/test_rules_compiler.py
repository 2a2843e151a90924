"""The condition compiler and Falco's operator semantics, on dict-backed events."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from bastion.sensor.rules import (
    MISSING,
    CompileError,
    Getter,
    compile_condition,
    event_types,
    load_rules_files,
    parse_condition,
)
from bastion.sensor.rules.ast import Expr
from bastion_testing import shared_data

FALCO_RULES = shared_data.shared_path(*shared_data.FALCO_RULES)


class DictFields:
    """Every field name resolves to a getter reading the event dict (absent key = MISSING)."""

    def __init__(self, known: set[str] | None = None) -> None:
        self.known = known

    def resolve(self, name: str, arg: str | None) -> Getter | None:
        if self.known is not None and name not in self.known:
            return None
        key = name if arg is None else f"{name}[{arg}]"
        return lambda evt: evt.get(key, MISSING) if isinstance(evt, dict) else MISSING


def check(
    cond: str,
    evt: dict[str, object],
    *,
    macros: dict[str, str] | None = None,
    lists: dict[str, list[str]] | None = None,
) -> bool:
    mexprs: dict[str, Expr] = {k: parse_condition(v) for k, v in (macros or {}).items()}
    fn = compile_condition(
        parse_condition(cond), macros=mexprs, lists=lists or {}, fields=DictFields()
    )
    return fn(evt)


@pytest.mark.parametrize(
    ("cond", "evt", "expected"),
    [
        ("proc.name = bash", {"proc.name": "bash"}, True),
        ("proc.name == bash", {"proc.name": "sh"}, False),
        ("proc.name != bash", {"proc.name": "sh"}, True),
        ("proc.name != bash", {"proc.name": "bash"}, False),
        ("proc.pid = 10", {"proc.pid": 10}, True),
        ("proc.pid = 0x0a", {"proc.pid": 10}, True),
        ("proc.pid < 9", {"proc.pid": 10}, False),
        ("proc.pid <= 10", {"proc.pid": 10}, True),
        ("proc.pid > 9", {"proc.pid": 10}, True),  # numeric: "10" < "9" as strings
        ("proc.pid >= 11", {"proc.pid": 10}, False),
        ("proc.name > val(p.n)", {"proc.name": "abd", "p.n": "abc"}, True),  # strcmp order
        ("proc.name < val(p.n)", {"proc.name": "abd", "p.n": "abc"}, False),
        ("proc.pid = abc", {"proc.pid": 10}, False),
        ("proc.tty = true", {"proc.tty": True}, True),
        ("proc.tty = false", {"proc.tty": True}, False),
        ("proc.cmdline contains foo", {"proc.cmdline": "a foo b"}, True),
        ("proc.cmdline contains Foo", {"proc.cmdline": "a foo b"}, False),
        ("proc.cmdline icontains FOO", {"proc.cmdline": "a foo b"}, True),
        ("proc.cmdline icontains bar", {"proc.cmdline": "a foo b"}, False),
        ("evt.buffer bcontains CAFE", {"evt.buffer": b"\x00\xca\xfe\x01"}, True),
        ("evt.buffer bcontains CAFF", {"evt.buffer": b"\x00\xca\xfe\x01"}, False),
        ("evt.buffer bstartswith 00CA", {"evt.buffer": b"\x00\xca\xfe\x01"}, True),
        ("evt.buffer bstartswith CA", {"evt.buffer": b"\x00\xca\xfe\x01"}, False),
        ("fd.name startswith /etc", {"fd.name": "/etc/passwd"}, True),
        ("fd.name startswith /usr", {"fd.name": "/etc/passwd"}, False),
        ("fd.name endswith passwd", {"fd.name": "/etc/passwd"}, True),
        ("fd.name endswith shadow", {"fd.name": "/etc/passwd"}, False),
        ("fd.name glob '/etc/*'", {"fd.name": "/etc/ssl/certs/x"}, True),  # * crosses /
        ("fd.name glob '/etc/?asswd'", {"fd.name": "/etc/passwd"}, True),
        ("fd.name glob '/etc/[a-p]asswd'", {"fd.name": "/etc/passwd"}, True),
        ("fd.name glob '/etc/[!p]asswd'", {"fd.name": "/etc/passwd"}, False),
        ("fd.name glob '/etc/*'", {"fd.name": "/ETC/passwd"}, False),
        ("fd.name glob '*.txt'", {"fd.name": "/a/.b.txt"}, True),  # no FNM_PERIOD
        ("fd.name glob a\\*", {"fd.name": "a*"}, True),
        ("fd.name glob a\\*", {"fd.name": "ab"}, False),
        ("fd.name iglob '/ETC/*'", {"fd.name": "/etc/passwd"}, True),
        ("fd.name iglob '/usr/*'", {"fd.name": "/etc/passwd"}, False),
        ("fd.name pmatch (/etc, /usr/lib)", {"fd.name": "/usr/lib/x.so"}, True),
        ("fd.name pmatch (/etc, /usr/lib)", {"fd.name": "/usr/lib"}, True),
        ("fd.name pmatch (/etc, /usr/lib)", {"fd.name": "/usr/libexec/x"}, False),
        ("fd.name pmatch (/etc/)", {"fd.name": "/etcx/passwd"}, False),
        ("proc.name in (bash, sh)", {"proc.name": "sh"}, True),
        ("proc.name in (bash, sh)", {"proc.name": "zsh"}, False),
        ("proc.pid in (1, 2)", {"proc.pid": 2}, True),
        ("proc.pid in (1, 2)", {"proc.pid": 3}, False),
        ("ka.groups in (a, b)", {"ka.groups": ["a", "b"]}, True),  # list field: subset
        ("ka.groups in (a, b)", {"ka.groups": ["a", "c"]}, False),
        ("ka.groups intersects (a, b)", {"ka.groups": ["c", "a"]}, True),
        ("ka.groups intersects (a, b)", {"ka.groups": ["c", "d"]}, False),
        ("ka.groups intersects (a, b)", {"ka.groups": []}, False),
        ("proc.name exists", {"proc.name": ""}, True),
        ("proc.name exists", {}, False),
        ("proc.name regex 'ba.h'", {"proc.name": "bash"}, True),
        ("proc.name regex 'as'", {"proc.name": "bash"}, False),  # RE2 ANCHOR_BOTH
        ("proc.name regex '.*as.*'", {"proc.name": "bash"}, True),
        ("fd.sip = 10.0.0.0/8", {"fd.sip": ipaddress.ip_address("10.1.2.3")}, True),
        ("fd.sip = 10.0.0.0/8", {"fd.sip": ipaddress.ip_address("11.1.2.3")}, False),
        ("fd.sip in (1.2.3.4, 10.0.0.0/8)", {"fd.sip": ipaddress.ip_address("1.2.3.4")}, True),
    ],
)
def test_operator(cond: str, evt: dict[str, object], expected: bool) -> None:
    assert check(cond, evt) is expected


@pytest.mark.parametrize(
    ("cond", "evt", "expected"),
    [
        ("tolower(proc.name) = bash", {"proc.name": "BaSh"}, True),
        ("toupper(proc.name) = BASH", {"proc.name": "bash"}, True),
        ("b64(proc.name) = hello", {"proc.name": "aGVsbG8="}, True),
        ("b64(proc.name) exists", {"proc.name": "!!not b64"}, False),
        ("basename(fd.name) = passwd", {"fd.name": "/etc/passwd"}, True),
        ("len(fd.name) = 11", {"fd.name": "/etc/passwd"}, True),
        ("len(fd.name) > 20", {"fd.name": "/etc/passwd"}, False),
        ("len(ka.groups) = 2", {"ka.groups": ["a", "b"]}, True),
        ("toupper(basename(fd.name)) = PASSWD", {"fd.name": "/etc/passwd"}, True),
        ("len(basename(tolower(fd.name))) = 6", {"fd.name": "/ETC/PASSWD"}, True),
        ("tolower(ka.groups) intersects (a)", {"ka.groups": ["A", "B"]}, True),
        ("proc.name = val(proc.pname)", {"proc.name": "x", "proc.pname": "x"}, True),
        ("proc.name = val(proc.pname)", {"proc.name": "x", "proc.pname": "y"}, False),
        ("proc.name = val(proc.pname)", {"proc.name": "x"}, False),
        ("proc.pid > val(proc.ppid)", {"proc.pid": 10, "proc.ppid": 9}, True),
        ("proc.name = tolower(proc.pname)", {"proc.name": "x", "proc.pname": "X"}, True),
    ],
)
def test_transformers_and_val(cond: str, evt: dict[str, object], expected: bool) -> None:
    assert check(cond, evt) is expected


MISSING_CONDS = [
    "f.x = a",
    "f.x != a",
    "f.x < 1",
    "f.x <= 1",
    "f.x > 1",
    "f.x >= 1",
    "f.x contains a",
    "f.x icontains a",
    "f.x bcontains 61",
    "f.x startswith a",
    "f.x bstartswith 61",
    "f.x endswith a",
    "f.x glob '*'",
    "f.x iglob '*'",
    "f.x pmatch (/)",
    "f.x in (a)",
    "f.x intersects (a)",
    "f.x regex '.*'",
    "f.x exists",
    "tolower(f.x) = a",
    "f.y = val(f.x)",
]


@pytest.mark.parametrize("cond", MISSING_CONDS)
def test_missing_field_fails_every_check_and_not_negates(cond: str) -> None:
    evt: dict[str, object] = {"f.y": "a"}
    assert check(cond, evt) is False
    assert check(f"not {cond}", evt) is True


def test_exists_on_present_field() -> None:
    assert check("f.x exists and not f.y exists", {"f.x": 0}) is True


def test_logic() -> None:
    evt: dict[str, object] = {"a.b": "1", "c.d": "2"}
    assert check("a.b = 1 and c.d = 2", evt)
    assert not check("a.b = 1 and c.d = 3", evt)
    assert check("a.b = 9 or c.d = 2", evt)
    assert check("a.b = 9 or c.d = 9 or a.b = 1", evt)
    assert not check("a.b = 9 or c.d = 9 or a.b = 8", evt)
    assert check("a.b = 1 and c.d = 2 and not a.b = 3", evt)


def test_macros_nested_and_reused() -> None:
    macros = {"m1": "m2 and proc.pid = 1", "m2": "proc.name = bash", "m3": "m1 or m2"}
    assert check("m3 and m1", {"proc.name": "bash", "proc.pid": 1}, macros=macros)
    assert not check("m1", {"proc.name": "bash", "proc.pid": 2}, macros=macros)


def test_macro_cycle() -> None:
    with pytest.raises(CompileError) as exc:
        check("m1", {}, macros={"m1": "m2 and a.b = 1", "m2": "not m1"})
    assert exc.value.reference == "rule-macro-cycle"
    assert exc.value.name == "m1"


def test_undefined_macro() -> None:
    with pytest.raises(CompileError) as exc:
        check("a.b = 1 and nope", {})
    assert (exc.value.reference, exc.value.name) == ("rule-undefined-macro", "nope")


def test_lists_nested_bare_words_and_quotes() -> None:
    lists = {
        "shells": ["bash", "zsh"],
        "all": ["shells", "'sh'", "fish", "missing_list"],
        "nets": ['"10.0.0.0/8"'],
    }
    assert check("proc.name in (all)", {"proc.name": "zsh"}, lists=lists)
    assert check("proc.name in all", {"proc.name": "sh"}, lists=lists)
    assert check("proc.name in (all, other)", {"proc.name": "other"}, lists=lists)
    assert check("proc.name in (all)", {"proc.name": "missing_list"}, lists=lists)
    assert not check("proc.name in (all)", {"proc.name": "shells"}, lists=lists)
    assert check("fd.name in (nets)", {"fd.name": "10.0.0.0/8"}, lists=lists)
    assert check("fd.name pmatch (shells)", {"fd.name": "bash/x"}, lists=lists)


def test_undefined_list_after_in() -> None:
    with pytest.raises(CompileError) as exc:
        check("proc.name in nolist", {})
    assert exc.value.reference == "rule-undefined-list"


def test_unknown_field() -> None:
    fields = DictFields(known={"proc.name"})
    with pytest.raises(CompileError) as exc:
        compile_condition(
            parse_condition("proc.name = a and tolower(proc.nope) = b"),
            macros={},
            lists={},
            fields=fields,
        )
    assert (exc.value.reference, exc.value.name) == ("rule-unknown-field", "proc.nope")


@pytest.mark.parametrize("cond", ["evt.buffer bcontains XYZ", "proc.name regex '('"])
def test_invalid_operand(cond: str) -> None:
    with pytest.raises(CompileError) as exc:
        check(cond, {})
    assert exc.value.reference == "rule-invalid-operand"


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ("evt.type = open", {"open"}),
        ("evt.type in (open, openat) and proc.name = x", {"open", "openat"}),
        ("evt.type = open or evt.type = connect", {"open", "connect"}),
        ("evt.type in (open, openat) and evt.type = openat", {"openat"}),
        ("evt.type = open or proc.name = x", None),
        ("not evt.type = open", None),
        ("evt.type != open", None),
        ("proc.name = x", None),
        ("spawned and proc.name = x", {"execve", "execveat"}),
        ("evt.type in (opens)", {"open", "openat"}),
        ("evt.type = open and not proc.name = x", {"open"}),
    ],
)
def test_event_types(cond: str, expected: set[str] | None) -> None:
    macros: dict[str, Expr] = {"spawned": parse_condition("evt.type in (execve, execveat)")}
    lists = {"opens": ["open", "openat"]}
    assert event_types(parse_condition(cond), macros, lists) == expected


@shared_data.needs(*shared_data.FALCO_RULES)
def test_every_falco_rule_compiles() -> None:
    rs = load_rules_files([str(FALCO_RULES)])
    macros = {name: m.expr for name, m in rs.macros.items()}
    lists = {name: list(item.items) for name, item in rs.lists.items()}
    compiled = 0
    for rule in rs.rules.values():
        fn = compile_condition(rule.expr, macros=macros, lists=lists, fields=DictFields())
        # An event whose fields are all unreadable fires no rule: every check but `exists` on
        # an unreadable field is false, and every default rule requires some field.
        assert fn({}) is False, rule.name
        compiled += 1
        # Every default rule narrows evt.type, directly or through a macro (falco warns
        # about rules that do not); those naming it directly are a subset of these.
        types = event_types(rule.expr, macros, lists)
        assert types, rule.name
    assert compiled == len(rs.rules) > 0


OTHER_RULESETS = sorted(FALCO_RULES.parent.glob("other-rulesets/*.yaml"))


@shared_data.needs("falco", "other-rulesets")
@pytest.mark.parametrize("path", OTHER_RULESETS, ids=lambda p: p.name)
def test_other_rulesets_compile(path: Path) -> None:
    stable = load_rules_files([str(FALCO_RULES)])
    rs = load_rules_files([str(FALCO_RULES), str(path)])
    macros = {name: m.expr for name, m in rs.macros.items()}
    lists = {name: list(item.items) for name, item in rs.lists.items()}
    assert len(rs.rules) > len(stable.rules)  # the extra file's rules were loaded too
    for rule in rs.rules.values():
        fn = compile_condition(rule.expr, macros=macros, lists=lists, fields=DictFields())
        assert fn({}) is False, rule.name  # as for the stable rules: nothing to match on
        assert event_types(rule.expr, macros, lists), rule.name  # each narrows evt.type
