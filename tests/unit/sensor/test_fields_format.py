"""Falco output strings compiled once and rendered; every Falco rules file compiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.sensor.fields import FieldRegistry, OutputFormatError, compile_output
from bastion.sensor.rules import compile_condition, load_rules_files, parse_condition
from bastion_testing import shared_data
from bastion_testing.sensor_fakes import FakeState, event, family

FALCO = shared_data.shared_path(*shared_data.FALCO)
RULES_FILES = [FALCO / "falco_rules.yaml", *sorted(FALCO.glob("other-rulesets/*.yaml"))]


def _render(fmt: str) -> tuple[str, dict[str, object]]:
    state, py = family()
    return compile_output(fmt, FieldRegistry(state))(event(thread=py, res=0))


def test_fields_end_where_the_field_grammar_ends() -> None:
    text, fields = _render('Shell (user=%user.uid proc=%proc.name) parent="%proc.aname[1]".')
    assert text == 'Shell (user=0 proc=python3) parent="bash".'
    assert fields == {"user.uid": 0, "proc.name": "python3", "proc.aname[1]": "bash"}


def test_unreadable_is_na_and_none() -> None:
    text, fields = _render("fd=%fd.name gp=%proc.aname[9] ok=%evt.failed")
    assert text == "fd=<NA> gp=<NA> ok=false"
    assert fields == {"fd.name": None, "proc.aname[9]": None, "evt.failed": False}


def test_width_pads_and_cuts() -> None:
    text, _ = _render("[%10proc.name][%3proc.name]")
    assert text == "[python3   ][pyt]"


def test_shorter_name_is_tried_and_star_prefix_dropped() -> None:
    text, fields = _render("*end %proc.name.")
    assert text == "end python3."
    assert list(fields) == ["proc.name"]


def test_transformers_list_the_inner_field() -> None:
    text, fields = _render("%toupper(proc.name) %proc.env[HOME]")
    assert text == "PYTHON3 /root"
    assert fields == {"proc.name": "python3", "proc.env[HOME]": "/root"}


def test_values_are_json_friendly() -> None:
    _, fields = _render("%proc.aname %evt.buffer")
    assert fields["proc.aname"] == "bash sshd systemd"
    assert fields["evt.buffer"] is None


@pytest.mark.parametrize("fmt", ["x %nosuch.field", "x %", "%12", "% proc.name", "%proc.nosuch[1]"])
def test_bad_formats_are_errors(fmt: str) -> None:
    with pytest.raises(OutputFormatError) as info:
        compile_output(fmt, FieldRegistry(FakeState()))
    assert info.value.reference in ("output-unknown-field", "output-format-syntax")


def test_unknown_field_is_named() -> None:
    with pytest.raises(OutputFormatError) as info:
        compile_output("user=%user.nam x", FieldRegistry(FakeState()))
    assert info.value.reference == "output-unknown-field"
    assert info.value.name == "user.nam"


@shared_data.needs(*shared_data.FALCO_RULES)
@pytest.mark.parametrize(
    "extra", [None, *RULES_FILES[1:]], ids=lambda p: getattr(p, "name", "stable")
)
def test_every_falco_rule_compiles_and_renders(extra: Path | None) -> None:
    files = [str(RULES_FILES[0])] + ([str(extra)] if extra else [])
    rs = load_rules_files(files)
    state, py = family()
    registry = FieldRegistry(state)
    macros = {name: m.expr for name, m in rs.macros.items()}
    lists = {name: list(item.items) for name, item in rs.lists.items()}
    evt = event("execve", thread=py, res=0)
    for rule in rs.rules.values():
        condition = compile_condition(rule.expr, macros=macros, lists=lists, fields=registry)
        # a host python3 exec'd by its parent is what every rule must let through
        assert condition(evt) is False, rule.name
        text, fields = compile_output(rule.output, registry)(evt)
        assert text and fields, rule.name
        assert fields.get("proc.name", "python3") == "python3", rule.name
        for exc in rule.exceptions:
            names = (exc.fields,) if isinstance(exc.fields, str) else exc.fields or ()
            for name in names:
                compile_condition(
                    parse_condition(f"{name} exists"), macros={}, lists={}, fields=registry
                )
    for macro in rs.macros.values():  # macros no rule uses must still name real fields
        compile_condition(macro.expr, macros=macros, lists=lists, fields=registry)


@shared_data.needs("falco", "fields.md")
def test_every_field_the_stable_rules_use_resolves() -> None:
    registry = FieldRegistry(FakeState())
    used = []
    for line in (FALCO / "fields.md").read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 9 or not cells[1].startswith("`"):
            continue
        name, flags, stable = cells[1].strip("`"), cells[3], cells[5]
        if stable:
            used.append(name)
            arg = "1" if "arg required" in flags or "arg: " in flags else None
            assert registry.resolve(name, arg) is not None, name
    assert len(used) == 58
