"""`explain`: the rule's verdict on one event, check by check, with the values fields had."""

from __future__ import annotations

import textwrap
from pathlib import Path

from bastion.sensor.rules import MISSING, Getter, load_rules_files
from bastion.sensor.rules.engine import RuleEngine
from bastion.sensor.rules.explain import explain

RULES = """
- list: shells
  items: [bash, sh]
- macro: spawned
  condition: evt.type = execve
- rule: shell
  desc: d
  condition: spawned and proc.name in (shells) and not proc.pname = sshd
  output: o
  priority: WARNING
  exceptions:
    - name: ci
      fields: [container.name]
      values: [[runner]]
"""


class Evt(dict[str, object]):
    @property
    def type(self) -> str:
        return str(self["evt.type"])


class DictFields:
    def resolve(self, name: str, arg: str | None) -> Getter | None:
        return lambda evt: evt.get(name, MISSING) if isinstance(evt, dict) else MISSING


def _explain(tmp_path: Path, event: Evt) -> tuple[str, bool]:
    path = tmp_path / "r.yaml"
    path.write_text(textwrap.dedent(RULES))
    ruleset = load_rules_files([str(path)])
    result = explain(ruleset.rules["shell"], ruleset, DictFields(), event)
    # the engine agrees with the explanation
    engine = RuleEngine.build(ruleset, DictFields())
    assert bool(engine.match(event)) == result.matched
    return result.render(), result.matched


def test_match_is_explained(tmp_path: Path) -> None:
    text, matched = _explain(
        tmp_path, Evt({"evt.type": "execve", "proc.name": "bash", "proc.pname": "init"})
    )
    assert matched
    assert "verdict: MATCH" in text
    assert "✓ proc.name in (shells)   [proc.name=bash]" in text
    assert "needs evt.type: execve" in text


def test_unreadable_field_and_exception_are_explained(tmp_path: Path) -> None:
    text, matched = _explain(
        tmp_path,
        Evt({"evt.type": "execve", "proc.name": "sh", "container.name": "runner"}),
    )
    assert not matched
    # proc.pname unreadable: the check is false, so `not` of it holds (Falco's semantics)
    assert "✗ proc.pname = sshd   [proc.pname=<NA>]   (unreadable field" in text
    assert "exception (a match here suppresses the rule)" in text
    assert "✓ container.name = runner" in text


def test_wrong_event_type_is_said(tmp_path: Path) -> None:
    text, matched = _explain(tmp_path, Evt({"evt.type": "openat", "proc.name": "bash"}))
    assert not matched
    assert "never evaluated" in text
