"""Mutated rules files through the whole front of the pipeline (load, compile against bastion's
real fields, compile outputs): a thousand variants, and each either builds or fails with one
of bastion's own errors naming the file; never a traceback or a hang."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.errors import BastionError
from bastion.sensor.assemble import load_rules
from bastion.sensor.state import SensorState

RULES = """\
- required_engine_version: 0.31.0
- list: shells
  items: [bash, "sh", zsh]
- list: dirs
  items: [/bin, /usr/bin]
- macro: spawned
  condition: evt.type in (execve, execveat) and evt.dir = <
- macro: in_container
  condition: container.id != host
- rule: Shell
  desc: a shell in a container
  condition: >
    spawned and in_container and proc.name in (shells)
    and not proc.pname in (sshd) and proc.aname[2] != init
  output: "shell %proc.name parent=%proc.pname cmd=%proc.cmdline in %container.name (%fd.name)"
  priority: WARNING
  tags: [shell]
  exceptions:
    - name: known
      fields: [proc.pname, proc.name]
      comps: [=, in]
      values: [[sshd, [a, b]]]
- rule: Write bin
  desc: a write below a binary dir
  condition: evt.type = openat and evt.is_open_write = true and fd.directory in (dirs)
  output: "write %fd.name flags=%evt.arg.flags by %user.name (%20proc.exe)"
  priority: ERROR
- rule: Shell
  condition: and user.uid = 0
  override: {condition: append}
"""

MUTATION = st.tuples(
    st.sampled_from(["insert", "delete", "replace"]),
    st.integers(min_value=0, max_value=len(RULES)),
    st.text(alphabet=st.sampled_from(list(" \n-:[]{}(),'\"|>%!=<.abcdefprnx012")), max_size=3),
)


def _mutate(text: str, mutations: list[tuple[str, int, str]]) -> str:
    for op, at, chunk in mutations:
        at = min(at, len(text))
        if op == "insert":
            text = text[:at] + chunk + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + len(chunk) + 1 :]
        else:
            text = text[:at] + chunk + text[at + len(chunk) :]
    return text


STATE = SensorState(runtime_roots=(), proc_root="/nonexistent")


def test_the_unmutated_file_builds() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rules.yaml"
        path.write_text(RULES)
        rules = load_rules([str(path)], STATE)
    assert [r.name for r in rules.engine.rules] == ["Shell", "Write bin"]


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(mutations=st.lists(MUTATION, min_size=1, max_size=4))
def test_mutated_rules_build_or_fail_with_our_error(mutations: list[tuple[str, int, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rules.yaml"
        path.write_text(_mutate(RULES, mutations))
        error: BastionError | None = None
        try:
            load_rules([str(path)], STATE)
        except BastionError as exc:
            error = exc
    if error is not None:
        assert error.message
        assert (error.where or "").startswith(str(path))  # the file, and where in it
