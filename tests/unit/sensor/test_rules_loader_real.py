"""The real Falco rules files load, and mutated rules files fail only with `RulesFileError`."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.sensor.rules import RulesFileError, load_rules_files
from bastion_testing import shared_data

FALCO = shared_data.shared_path(*shared_data.FALCO)
RULES_FILES = sorted([FALCO / "falco_rules.yaml", *FALCO.glob("other-rulesets/*.yaml")])
PRESENT = [p for p in RULES_FILES if p.is_file()]
needs_rules = pytest.mark.skipif(
    not PRESENT, reason=shared_data.missing_reason(*shared_data.FALCO_RULES)
)


def plain_counts(paths: list[Path]) -> dict[str, int]:
    """Distinct names per kind with `yaml.safe_load`: what remains after redefinitions."""
    names: dict[str, set[str]] = {"list": set(), "macro": set(), "rule": set()}
    for path in paths:
        for item in yaml.safe_load(path.read_text()) or []:
            for kind, seen in names.items():
                if kind in item:
                    seen.add(item[kind])
                    break
    return {kind: len(seen) for kind, seen in names.items()}


@needs_rules
@pytest.mark.parametrize("path", PRESENT, ids=lambda p: p.name)
def test_real_file_loads(path: Path) -> None:
    rs = load_rules_files([str(path)])
    counts = plain_counts([path])
    assert (len(rs.lists), len(rs.macros), len(rs.rules)) == (
        counts["list"],
        counts["macro"],
        counts["rule"],
    )
    assert rs.warnings == []
    assert rs.required_engine_version == "0.57.0"


@needs_rules
def test_real_files_together() -> None:
    rs = load_rules_files([str(p) for p in PRESENT])
    counts = plain_counts(PRESENT)
    assert (len(rs.lists), len(rs.macros), len(rs.rules)) == (
        counts["list"],
        counts["macro"],
        counts["rule"],
    )
    assert all("overriding" in w for w in rs.warnings)


SMALL = """\
- required_engine_version: 0.57.0
- list: shells
  items: [bash, "sh"]
- macro: spawned
  condition: evt.type = execve and proc.name in (shells)
- rule: Shell
  desc: >
    a shell
  condition: >
    spawned and
    not proc.pname in (sshd)
  output: shell %proc.name
  priority: WARNING
  tags: [shell]
  exceptions:
    - name: known
      fields: [proc.pname, proc.name]
      comps: [=, in]
      values: [[sshd, [a, b]]]
- rule: Shell
  condition: and user.uid = 0
  override: {condition: append}
- rule: Shell
  enabled: false
"""

MUTATION = st.tuples(
    st.sampled_from(["insert", "delete", "replace"]),
    st.integers(min_value=0, max_value=len(SMALL)),
    st.text(alphabet=st.sampled_from(list(" \n\t-:[]{}(),'\"|>&*!#%@`?abc01=")), max_size=3),
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutations=st.lists(MUTATION, min_size=1, max_size=4))
def test_mutated_file_loads_or_fails_cleanly(mutations: list[tuple[str, int, str]]) -> None:
    text = SMALL
    for op, at, chunk in mutations:
        at = min(at, len(text))
        if op == "insert":
            text = text[:at] + chunk + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + len(chunk) + 1 :]
        else:
            text = text[:at] + chunk + text[at + len(chunk) :]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rules.yaml"
        path.write_text(text)
        where = str(path)
        try:
            load_rules_files([str(path)])
        except RulesFileError as exc:
            where = exc.where or ""
    assert where.startswith(str(path))


def test_small_file_is_valid() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rules.yaml"
        path.write_text(SMALL)
        rs = load_rules_files([str(path)])
    rule = rs.rules["Shell"]
    assert not rule.enabled
    assert rule.condition == "spawned and not proc.pname in (sshd)\n and user.uid = 0"
    assert rule.exceptions[0].values == (("sshd", ("a", "b")),)
