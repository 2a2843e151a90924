"""Rules that would load and then silently never fire (or silence their rule) are refused at load,
each with the file:line:col of the fault and what Falco means by it (issue [falco-parity] item 1).

Every rules file is written by the test; the rules run on bastion's real field table, and the
fixed exception runs on the shared cat_write.scap.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path

import pytest

from bastion.errors import BastionError
from bastion.sensor.assemble import load_rules
from bastion.sensor.pipeline import Pipeline
from bastion.sensor.replay import open_replay
from bastion.sensor.rules.checks import MAX_MACRO_DEPTH
from bastion.sensor.rules.version import ENGINE_VERSION
from bastion.sensor.state import SensorState
from bastion_testing import shared_data

CAPTURES = ("falco", "captures")


def new_state() -> SensorState:
    return SensorState(runtime_roots=(), proc_root="/nonexistent", host_root="/nonexistent")


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return str(path)


def load_error(tmp_path: Path, text: str) -> BastionError:
    path = write(tmp_path, text)
    with pytest.raises(BastionError) as info:
        load_rules([path], new_state())
    return info.value


def alerts_on(capture: Path, files: list[str]) -> Counter[str]:
    state = new_state()
    state.live = False
    rules = load_rules(files, state, rule_matching="all")
    pipeline = Pipeline(engine=rules.engine, state=state, hostname="test")
    return Counter(alert.rule for alert in pipeline.feed(open_replay(str(capture), state)))


RULE = """
- rule: r
  desc: d
  condition: {condition}
  output: o %proc.name
  priority: WARNING
"""


def test_an_evt_type_that_is_no_event_is_an_error(tmp_path: Path) -> None:
    error = load_error(tmp_path, RULE.format(condition="evt.type=opne and proc.name=cat"))
    assert error.reference == "rule-unknown-event-type"
    assert "unknown event type 'opne'" in error.message
    assert "Falco refuses" in error.message
    assert error.where == f"{tmp_path}/rules.yaml:3:23"


def test_an_evt_type_list_that_is_no_event_list_is_an_error(tmp_path: Path) -> None:
    text = "- list: list_a\n  items: [cat, bash]\n" + RULE.format(condition="evt.type in (list_a)")
    error = load_error(tmp_path, text)
    assert error.reference == "rule-unknown-event-type"
    assert "unknown event type 'cat' (an item of list 'list_a')" in error.message
    assert error.where == f"{tmp_path}/rules.yaml:6:27"


def test_real_event_names_and_syscall_names_load(tmp_path: Path) -> None:
    condition = "evt.type in (open, openat2, pread, procexit, container, getuid) or evt.type!=x"
    error = load_error(tmp_path, RULE.format(condition=condition))
    assert "unknown event type 'x'" in error.message  # only the last one is wrong
    path = write(tmp_path, RULE.format(condition=condition.replace(" or evt.type!=x", "")))
    assert len(load_rules([path], new_state()).engine.rules) == 1


EXCEPTION_RULE = """
- rule: cat opens
  desc: cat opens a file
  condition: evt.type in (open, openat) and evt.dir=< and proc.name=cat
  output: cat opened %fd.name
  priority: WARNING
  exceptions:
    - name: known
{exception}
"""


def exception(body: str) -> str:
    return EXCEPTION_RULE.format(exception=textwrap.indent(textwrap.dedent(body), " " * 6))


def test_exception_values_shorter_than_fields_are_refused_and_the_fixed_rule_fires(
    tmp_path: Path,
) -> None:
    # before the fix this exception became `not (proc.name = cat)`: every alert suppressed
    broken = exception("""
        fields: [proc.name, fd.name]
        values: [[cat]]
        """)
    error = load_error(tmp_path, broken)
    assert error.reference == "rule-exception"
    assert "value [cat] has 1 item(s) for 2 fields (proc.name, fd.name)" in error.message
    assert "Falco refuses it" in error.message
    assert error.where == f"{tmp_path}/rules.yaml:10:16"
    capture = shared_data.require(*CAPTURES, "cat_write.scap")
    fixed = write(
        tmp_path,
        exception("""
        fields: [proc.name, fd.name]
        values: [[cat, /nonexistent]]
        """),
        "fixed.yaml",
    )
    assert alerts_on(capture, [fixed])["cat opens"] == 4  # cat_write.scap opens 4 files


@pytest.mark.parametrize(
    ("body", "where", "words"),
    [
        ("fields: [proc.name, fd.name]\ncomps: [=]\nvalues: [[cat, x]]", "9:14", "2 fields but 1"),
        ("fields: [proc.name]\ncomps: [sameas]\nvalues: [[cat]]", "9:14", "operator 'sameas'"),
        ("fields: [proc.nome]\nvalues: [[cat]]", "8:15", "unknown field 'proc.nome'"),
        ("fields: [proc.nome]", "8:15", "unknown field 'proc.nome'"),
        ("values: [[cat]]", "7:7", "has no 'fields'"),
        ("fields: proc.name\ncomps: [in]\nvalues: [cat]", "9:14", "must both be a list"),
    ],
)
def test_malformed_exceptions_are_refused_at_load(
    tmp_path: Path, body: str, where: str, words: str
) -> None:
    error = load_error(tmp_path, exception(body))
    assert error.reference == "rule-exception"
    assert words in error.message
    assert "Falco" in error.message
    assert error.where == f"{tmp_path}/rules.yaml:{where}"


def test_an_empty_exception_value_is_said_in_the_users_terms(tmp_path: Path) -> None:
    error = load_error(tmp_path, exception("fields: proc.name\nvalues: [[]]"))
    assert "(in:" not in error.message and "expected a field check" not in error.message
    assert "value [] is empty" in error.message
    assert error.where == f"{tmp_path}/rules.yaml:9:16"


def test_an_exception_value_that_breaks_the_condition_is_said_in_the_users_terms(
    tmp_path: Path,
) -> None:
    error = load_error(tmp_path, exception("fields: proc.name\ncomps: in\nvalues: ['(cat sh)']"))
    assert "(in:" not in error.message and "expected" not in error.message
    assert "value '(cat sh)' does not make a valid list" in error.message
    assert error.where == f"{tmp_path}/rules.yaml:10:16"


MACROS = """
- macro: a
  condition: b
- macro: b
  condition: proc.name=x or a
"""


def test_a_macro_loop_is_an_error_even_unused(tmp_path: Path) -> None:
    error = load_error(tmp_path, MACROS + RULE.format(condition="evt.type=open"))
    assert error.reference == "rule-macro-cycle"
    assert "a -> b -> a" in error.message
    assert error.where == f"{tmp_path}/rules.yaml:4:29"


def test_a_list_loop_is_an_error(tmp_path: Path) -> None:
    text = "- list: x\n  items: [y, a]\n- list: y\n  items: [b, x]\n"
    error = load_error(tmp_path, text + RULE.format(condition="evt.type=open"))
    assert error.reference == "rule-list-cycle"
    assert "x -> y -> x" in error.message
    assert error.where == f"{tmp_path}/rules.yaml:3:3"


def test_overwriting_a_macro_with_an_undefined_reference_is_an_error(tmp_path: Path) -> None:
    text = textwrap.dedent("""
    - macro: m
      condition: proc.name=cat
    - macro: m
      condition: proc.name=cat and not helper_that_is_not_defined
    """) + RULE.format(condition="evt.type=open")
    error = load_error(tmp_path, text)
    assert error.reference == "rule-undefined-macro"
    assert "'helper_that_is_not_defined'" in error.message
    assert error.where == f"{tmp_path}/rules.yaml:4:36"


def test_a_macro_chain_hundreds_deep_is_a_clean_error(tmp_path: Path) -> None:
    depth = 600
    items = [f"- macro: m{i}\n  condition: m{i + 1}\n" for i in range(depth)]
    items.append(f"- macro: m{depth}\n  condition: proc.name=cat\n")
    error = load_error(tmp_path, "".join(items) + RULE.format(condition="evt.type=open and m0"))
    assert not isinstance(error.__cause__, RecursionError)
    assert error.reference == "rule-macro-depth"
    assert f"more than {MAX_MACRO_DEPTH} nested macros" in error.message


def test_a_chain_within_the_limit_loads(tmp_path: Path) -> None:
    items = [f"- macro: m{i}\n  condition: m{i + 1}\n" for i in range(MAX_MACRO_DEPTH - 1)]
    items.append(f"- macro: m{MAX_MACRO_DEPTH - 1}\n  condition: proc.name=cat\n")
    path = write(tmp_path, "".join(items) + RULE.format(condition="evt.type=open and m0"))
    assert len(load_rules([path], new_state()).engine.rules) == 1


@pytest.mark.parametrize("version", ["abc", "0.57", "1.x.0", "'0.57.0.1'"])
def test_a_required_engine_version_that_is_no_version_is_an_error(
    tmp_path: Path, version: str
) -> None:
    error = load_error(tmp_path, f"- required_engine_version: {version}\n")
    assert error.reference == "rules-engine-version"
    assert "is not a version" in error.message
    assert error.where == f"{tmp_path}/rules.yaml:1:28"


def test_a_required_engine_version_above_bastions_is_an_error(tmp_path: Path) -> None:
    major, minor, patch = ENGINE_VERSION
    error = load_error(tmp_path, f"- required_engine_version: {major}.{minor + 1}.0\n")
    assert error.reference == "rules-engine-version"
    assert f"bastion's engine version is {major}.{minor}.{patch}" in error.message


@pytest.mark.parametrize("version", ["0.57.0", "0.10.3", "12"])
def test_a_required_engine_version_met_loads(tmp_path: Path, version: str) -> None:
    path = write(
        tmp_path, f"- required_engine_version: {version}\n" + RULE.format(condition="evt.type=open")
    )
    assert len(load_rules([path], new_state()).engine.rules) == 1
