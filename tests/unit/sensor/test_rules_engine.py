"""The rule engine: event-type index, rule_matching, exceptions, skips, and located errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bastion.sensor.rules import MISSING, Getter, load_rules_files
from bastion.sensor.rules.engine import EngineError, RuleEngine, priority_rank
from bastion.sensor.rules.exceptions import exception_text
from bastion.sensor.rules.model import ExceptionDef, Mark
from bastion_testing import shared_data

FALCO = shared_data.shared_path(*shared_data.FALCO)


class Evt(dict[str, object]):
    """A dict-backed event whose `type` is its evt.type."""

    @property
    def type(self) -> str:
        return str(self["evt.type"])


class DictFields:
    def __init__(self, unknown: frozenset[str] = frozenset()) -> None:
        self.unknown = unknown

    def resolve(self, name: str, arg: str | None) -> Getter | None:
        if name in self.unknown:
            return None
        key = name if arg is None else f"{name}[{arg}]"
        return lambda evt: evt.get(key, MISSING) if isinstance(evt, dict) else MISSING


def engine_for(tmp_path: Path, text: str, **options: object) -> RuleEngine:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(text))
    ruleset = load_rules_files([str(path)])
    fields = options.pop("fields", DictFields())
    return RuleEngine.build(ruleset, fields, **options)  # type: ignore[arg-type]


RULES = """
- list: shells
  items: [bash, sh]
- macro: spawned
  condition: evt.type = execve and evt.dir = <
- rule: shell
  desc: a shell
  condition: spawned and proc.name in (shells)
  output: shell %proc.name
  priority: WARNING
  tags: [shell]
- rule: any exec
  desc: every exec
  condition: spawned
  output: exec
  priority: INFO
- rule: open etc
  desc: opens below /etc
  condition: evt.type in (open, openat) and fd.name startswith /etc
  output: open
  priority: ERROR
"""


def test_index_by_event_type_and_first_match(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, RULES)
    assert {r.name for r in engine.candidates("execve")} == {"shell", "any exec"}
    assert [r.name for r in engine.candidates("openat")] == ["open etc"]
    assert engine.candidates("connect") == ()
    assert engine.event_types == frozenset({"execve", "open", "openat"})
    evt = Evt({"evt.type": "execve", "evt.dir": "<", "proc.name": "bash"})
    assert [r.name for r in engine.match(evt)] == ["shell"]
    assert engine.match(Evt({"evt.type": "execve", "evt.dir": "<", "proc.name": "ls"}))[0].name == (
        "any exec"
    )
    assert engine.matches == {"shell": 1, "any exec": 1}


def test_rule_matching_all_and_priorities(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, RULES, rule_matching="all")
    evt = Evt({"evt.type": "execve", "evt.dir": "<", "proc.name": "sh"})
    hits = engine.match(evt)
    assert [(r.name, r.priority) for r in hits] == [
        ("shell", "Warning"),
        ("any exec", "Informational"),
    ]
    only_severe = engine_for(tmp_path, RULES, min_priority="warning")
    assert [r.name for r in only_severe.rules] == ["shell", "open etc"]
    assert priority_rank("info") == priority_rank("INFORMATIONAL") == 6
    with pytest.raises(EngineError, match="rule_matching"):
        engine_for(tmp_path, RULES, rule_matching="some")


def test_disabled_tags_and_rules(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, RULES, disabled_tags=["shell"], disabled_rules=["open etc"])
    assert [r.name for r in engine.rules] == ["any exec"]


def test_exceptions_single_field_and_tuples(tmp_path: Path) -> None:
    engine = engine_for(
        tmp_path,
        RULES
        + """
- list: trusted
  items: [cron]
- rule: write etc
  desc: writes below /etc
  condition: evt.type = openat and fd.name startswith /etc
  output: w
  priority: ERROR
  exceptions:
    - name: by_proc
      fields: proc.name
      values: [vim, trusted]
    - name: proc_file
      fields: [proc.name, fd.name]
      comps: [=, startswith]
      values:
        - [apt, /etc/apt]
        - ["my tool", /etc/tool]
""",
        rule_matching="all",
    )

    def fires(proc: str, path: str) -> bool:
        evt = Evt({"evt.type": "openat", "proc.name": proc, "fd.name": path})
        return "write etc" in [r.name for r in engine.match(evt)]

    assert fires("bash", "/etc/passwd")
    assert not fires("vim", "/etc/passwd")
    assert not fires("cron", "/etc/crontab")  # a list name among the values is expanded
    assert not fires("apt", "/etc/apt/sources.list")
    assert fires("apt", "/etc/passwd")
    assert not fires("my tool", "/etc/tool/x")


def test_exception_text_follows_falco() -> None:
    mark = Mark("f", 1, 1)
    single = ExceptionDef("a", mark, "proc.name", None, ("x y", "z"))
    assert exception_text(single, set()) == 'proc.name in ("x y", "z")'
    pair = ExceptionDef("b", mark, ("proc.name", "fd.name"), ("=", "in"), (("a", ("b", "c")),))
    assert exception_text(pair, set()) == '(proc.name = "a" and fd.name in ("b", "c"))'
    assert exception_text(ExceptionDef("c", mark, "proc.name"), set()) is None


def test_unknown_field_error_names_file_line_col(tmp_path: Path) -> None:
    text = """\
- rule: typo
  desc: d
  condition: evt.type = open and proc.nmae = x
  output: o
  priority: ERROR
"""
    with pytest.raises(EngineError) as info:
        engine_for(tmp_path, text, fields=DictFields(frozenset({"proc.nmae"})))
    err = info.value
    assert err.reference == "rule-unknown-field"
    assert err.where == f"{tmp_path / 'rules.yaml'}:3:34"
    assert "proc.nmae" in err.message and "typo" in err.message
    assert err.hint and "bastion fields" in err.hint


def test_error_inside_a_macro_points_at_the_macro(tmp_path: Path) -> None:
    text = """\
- macro: m
  condition: >
    evt.type = open and
    fd.nam = x
- rule: r
  desc: d
  condition: m
  output: o
  priority: ERROR
"""
    with pytest.raises(EngineError) as info:
        engine_for(tmp_path, text, fields=DictFields(frozenset({"fd.nam"})))
    assert info.value.where == f"{tmp_path / 'rules.yaml'}:4:5"
    assert "macro 'm'" in info.value.message


def test_undefined_list_and_skip_if_unknown_filter(tmp_path: Path) -> None:
    base = """\
- rule: r
  desc: d
  condition: evt.type = open and proc.name in (nolist) and fd.name in nolist
  output: o
  priority: ERROR
"""
    with pytest.raises(EngineError, match="undefined list 'nolist'"):
        engine_for(tmp_path, base)
    skipped = engine_for(
        tmp_path,
        """\
- rule: r
  desc: d
  condition: evt.type = open and plugin.field = 1
  output: o
  priority: ERROR
  skip-if-unknown-filter: true
""",
        fields=DictFields(frozenset({"plugin.field"})),
    )
    assert skipped.rules == []
    assert any("skipped" in w for w in skipped.warnings)


def test_plugin_source_is_skipped_with_a_warning(tmp_path: Path) -> None:
    engine = engine_for(
        tmp_path,
        """\
- rule: audit
  desc: d
  condition: ka.verb = create
  output: o
  priority: ERROR
  source: k8s_audit
""",
    )
    assert engine.rules == []
    assert any("needs a plugin" in w for w in engine.warnings)


def test_any_type_rule_warns_and_matches_everything(tmp_path: Path) -> None:
    engine = engine_for(
        tmp_path,
        """\
- rule: root
  desc: d
  condition: user.uid = 0
  output: o
  priority: ERROR
""",
    )
    assert engine.event_types is None
    assert any("every event type" in w for w in engine.warnings)
    assert engine.match(Evt({"evt.type": "connect", "user.uid": 0}))


@shared_data.needs(*shared_data.FALCO_RULES)
def test_falco_rulesets_build(tmp_path: Path) -> None:
    paths = [
        FALCO / "falco_rules.yaml",
        *sorted((FALCO / "other-rulesets").glob("*.yaml")),
    ]
    engine = RuleEngine.build(load_rules_files([str(p) for p in paths]), DictFields())
    assert len(engine.rules) > 20
    assert engine.candidates("execve")
