"""The rules loader and collector: append/override semantics and errors with file:line:col."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from bastion.sensor.rules import RulesFileError, load_rules_files, referenced_names
from bastion.sensor.rules.model import RuleSet

BASE = """\
- list: shells
  items: [bash, sh]

- macro: spawned
  condition: evt.type = execve

- rule: Shell
  desc: a shell
  condition: spawned and proc.name in (shells)
  output: shell %proc.name
  priority: WARNING
  tags: [shell]
  exceptions:
    - name: known
      fields: [proc.pname]
      values: [[sshd]]
"""


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> str:
    path = tmp_path / name
    path.write_text(dedent(text))
    return str(path)


def load(tmp_path: Path, *texts: str) -> RuleSet:
    paths = [write(tmp_path, text, f"r{i}.yaml") for i, text in enumerate(texts)]
    return load_rules_files(paths)


def error(tmp_path: Path, text: str) -> tuple[RulesFileError, str]:
    path = write(tmp_path, text)
    with pytest.raises(RulesFileError) as info:
        load_rules_files([path])
    return info.value, path


def test_base_file_loads(tmp_path: Path) -> None:
    rs = load(tmp_path, BASE)
    assert rs.lists["shells"].items == ("bash", "sh")
    assert rs.macros["spawned"].condition == "evt.type = execve"
    rule = rs.rules["Shell"]
    assert rule.priority == "warning"
    assert rule.tags == ("shell",)
    assert rule.enabled
    assert rule.exceptions[0].fields == ("proc.pname",)
    assert rule.exceptions[0].values == (("sshd",),)
    assert str(rule.mark).endswith("r0.yaml:7:3")
    assert rs.warnings == []
    refs = referenced_names(rule.expr)
    assert refs.macros == {"spawned"}
    assert refs.lists == {"shells"}


def test_later_definition_replaces_in_place_with_warning(tmp_path: Path) -> None:
    later = """\
    - list: shells
      items: [zsh]
    - list: extra
      items: [a]
    """
    rs = load(tmp_path, BASE, later)
    assert list(rs.lists) == ["shells", "extra"]
    assert rs.lists["shells"].items == ("zsh",)
    assert len(rs.warnings) == 1
    assert "r1.yaml:1:3" in rs.warnings[0]
    assert "overriding" in rs.warnings[0]


def test_deprecated_append(tmp_path: Path) -> None:
    more = """\
    - list: shells
      items: [zsh]
      append: true
    - macro: spawned
      condition: or evt.type = execveat
      append: true
    - rule: Shell
      condition: and not proc.name = bash
      append: true
      exceptions:
        - name: known
          values: [[login]]
        - name: other
          fields: proc.name
          values: [x]
    """
    rs = load(tmp_path, BASE, more)
    assert rs.lists["shells"].items == ("bash", "sh", "zsh")
    assert rs.macros["spawned"].condition == "evt.type = execve or evt.type = execveat"
    rule = rs.rules["Shell"]
    assert rule.condition == "spawned and proc.name in (shells) and not proc.name = bash"
    assert [e.name for e in rule.exceptions] == ["known", "other"]
    assert rule.exceptions[0].values == (("sshd",), ("login",))
    assert rule.exceptions[1].fields == "proc.name"


def test_override_append_and_replace(tmp_path: Path) -> None:
    more = """\
    - list: shells
      items: [fish]
      override: {items: replace}
    - macro: spawned
      condition: evt.type in (execve, execveat)
      override:
        condition: replace
    - rule: Shell
      condition: and user.uid = 0
      output: user=%user.name
      tags: [root, shell]
      priority: critical
      desc: replaced
      exceptions:
        - name: fresh
          fields: [proc.name]
          values: [[a]]
      override:
        condition: append
        output: append
        tags: append
        priority: replace
        desc: replace
        exceptions: replace
    """
    rs = load(tmp_path, BASE, more)
    assert rs.lists["shells"].items == ("fish",)
    assert rs.macros["spawned"].condition == "evt.type in (execve, execveat)"
    rule = rs.rules["Shell"]
    assert rule.condition.endswith("(shells) and user.uid = 0")
    assert rule.output == "shell %proc.name user=%user.name"
    assert rule.tags == ("shell", "root")
    assert rule.priority == "critical"
    assert rule.desc == "replaced"
    assert [e.name for e in rule.exceptions] == ["fresh"]


def test_override_exceptions_append_and_condition_replace(tmp_path: Path) -> None:
    more = """\
    - rule: Shell
      condition: evt.type = open
      exceptions:
        - name: known
          values: [[cron]]
      override: {condition: replace, exceptions: append}
    """
    rule = load(tmp_path, BASE, more).rules["Shell"]
    assert rule.condition == "evt.type = open"
    assert rule.exceptions[0].values == (("sshd",), ("cron",))


def test_enabled_only_and_enabled_override(tmp_path: Path) -> None:
    rs = load(tmp_path, BASE, "- rule: Shell\n  enabled: false\n")
    assert not rs.rules["Shell"].enabled
    rs = load(
        tmp_path,
        BASE,
        "- rule: Shell\n  enabled: no\n",
        "- rule: Shell\n  enabled: true\n  override: {enabled: replace}\n",
    )
    assert rs.rules["Shell"].enabled


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("- list: nope\n  items: [a]\n  append: true\n", "1:3"),
        ("- macro: nope\n  condition: a\n  override: {condition: append}\n", "1:3"),
        ("\n- rule: nope\n  condition: a\n  append: true\n", "2:3"),
        ("- rule: nope\n  enabled: false\n", "2:12"),
    ],
)
def test_change_to_undefined_is_an_error(tmp_path: Path, text: str, where: str) -> None:
    base = write(tmp_path, BASE, "base.yaml")
    path = write(tmp_path, text)
    with pytest.raises(RulesFileError) as info:
        load_rules_files([base, path])
    assert info.value.reference == "rules-file-invalid"
    assert info.value.where == f"{path}:{where}"


def test_override_key_without_value_is_an_error(tmp_path: Path) -> None:
    exc, path = error(tmp_path, BASE + "- rule: Shell\n  override: {output: append}\n")
    assert exc.reference == "rules-file-invalid"
    assert exc.where == f"{path}:18:13"


def test_yaml_syntax_error(tmp_path: Path) -> None:
    exc, path = error(tmp_path, "- list: a\n  items: a: b\n")
    assert exc.reference == "rules-yaml-syntax"
    assert exc.where == f"{path}:2:11"


def test_wrong_priority(tmp_path: Path) -> None:
    exc, path = error(tmp_path, BASE.replace("WARNING", "LOUD"))
    assert exc.reference == "rules-file-invalid"
    assert exc.where == f"{path}:11:13"
    assert "rule 'Shell' → priority" in exc.message
    assert "'LOUD'" in exc.message


def test_tags_not_a_list(tmp_path: Path) -> None:
    exc, path = error(tmp_path, BASE.replace("tags: [shell]", "tags: shell"))
    assert exc.reference == "rules-file-invalid"
    assert exc.where == f"{path}:12:9"


def test_enabled_not_a_bool(tmp_path: Path) -> None:
    exc, path = error(tmp_path, "- rule: x\n  enabled: maybe\n")
    assert exc.reference == "rules-file-invalid"
    assert exc.where == f"{path}:2:12"


def test_unbalanced_parenthesis_plain_scalar(tmp_path: Path) -> None:
    exc, path = error(tmp_path, BASE.replace("in (shells)", "in (shells"))
    assert exc.reference == "rule-condition-syntax"
    # The value starts at column 14; the parser wants ')' just past its end (offset 32).
    assert exc.where == f"{path}:9:46"
    assert "^" in exc.message


def test_condition_error_in_block_scalar(tmp_path: Path) -> None:
    text = "- macro: m\n  condition: >\n    evt.type = open and\n    and proc.name = x\n"
    exc, path = error(tmp_path, text)
    assert exc.reference == "rule-condition-syntax"
    assert exc.where == f"{path}:4:9"  # at "proc", after the second "and"


def test_condition_error_in_literal_block_scalar(tmp_path: Path) -> None:
    text = "- macro: m\n  condition: |\n    evt.type = open and\n      (proc.name = x\n"
    exc, path = error(tmp_path, text)
    assert exc.where == f"{path}:4:21"


def test_condition_error_in_appended_part(tmp_path: Path) -> None:
    more = "- macro: spawned\n  condition: and )\n  append: true\n"
    base = write(tmp_path, BASE, "base.yaml")
    path = write(tmp_path, more)
    with pytest.raises(RulesFileError) as info:
        load_rules_files([base, path])
    assert info.value.reference == "rule-condition-syntax"
    assert info.value.where == f"{path}:2:18"


def test_quoted_condition_error(tmp_path: Path) -> None:
    exc, path = error(tmp_path, "- macro: m\n  condition: 'a and )'\n")
    assert exc.where == f"{path}:2:21"


def test_unknown_key_is_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("  tags: [shell]\n", "  tags: [shell]\n  colour: red\n"))
    rs = load_rules_files([path])
    assert any(w.startswith(f"{path}:13:3:") and "colour" in w for w in rs.warnings)
    path = write(tmp_path, "- frobnicate: 1\n", "other.yaml")
    assert "unknown top level object" in load_rules_files([path]).warnings[0]


def test_missing_condition(tmp_path: Path) -> None:
    exc, path = error(tmp_path, "\n- rule: r\n  desc: d\n  output: o\n  priority: info\n")
    assert exc.reference == "rules-file-invalid"
    assert exc.where == f"{path}:2:3"
    assert "condition" in exc.message


def test_plugin_source_rules_are_skipped(tmp_path: Path) -> None:
    text = """\
    - rule: Audit
      desc: d
      condition: ka.verb = create
      output: o
      priority: info
      source: k8s_audit
    - rule: Audit
      condition: and ka.user.name = x
      append: true
    """
    rs = load(tmp_path, text)
    assert rs.rules == {}
    assert any("k8s_audit" in w for w in rs.warnings)


def test_append_and_override_together(tmp_path: Path) -> None:
    text = BASE + "- list: shells\n  items: [a]\n  append: true\n  override: {items: append}\n"
    exc, path = error(tmp_path, text)
    assert exc.reference == "rules-file-invalid"
    assert exc.where == f"{path}:20:13"


def test_bad_override_value(tmp_path: Path) -> None:
    text = BASE + "- list: shells\n  items: [a]\n  override: {items: merge}\n"
    exc, path = error(tmp_path, text)
    assert exc.where == f"{path}:19:21"


def test_not_a_sequence_and_empty(tmp_path: Path) -> None:
    exc, path = error(tmp_path, "rule: x\n")
    assert exc.where == f"{path}:1:1"
    assert load_rules_files([write(tmp_path, "", "empty.yaml")]).rules == {}


def test_action_key_one_or_a_list(tmp_path: Path) -> None:
    one = load(
        tmp_path, BASE.replace("  tags: [shell]\n", "  tags: [shell]\n  action: kill_process\n")
    )
    assert one.rules["Shell"].actions == ("kill_process",)
    many = BASE.replace(
        "  tags: [shell]\n", "  tags: [shell]\n  action: [alert, pause_container]\n"
    )
    assert load(tmp_path, many).rules["Shell"].actions == ("alert", "pause_container")
    assert load(tmp_path, BASE).rules["Shell"].actions == ()
    override = """\
    - rule: Shell
      action: kill_container
      override:
        action: replace
    """
    assert load(tmp_path, BASE, override).rules["Shell"].actions == ("kill_container",)


def test_an_unknown_action_is_an_error_at_its_place(tmp_path: Path) -> None:
    text = BASE.replace("  tags: [shell]\n", "  tags: [shell]\n  action: [alert, kil_process]\n")
    exc, path = error(tmp_path, text)
    assert exc.reference == "rules-file-invalid"
    assert exc.where == f"{path}:13:19"
    assert "kil_process" in exc.message and "kill_process" in exc.message
