"""Every condition of the real Falco rules files parses, and mutated ones fail cleanly."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.sensor.rules import ConditionSyntaxError, parse_condition
from bastion.sensor.rules.ast import BinaryCheck, Identifier, walk
from bastion_testing import shared_data

FALCO = shared_data.shared_path(*shared_data.FALCO)
RULES_FILES = sorted([FALCO / "falco_rules.yaml", *FALCO.glob("other-rulesets/*.yaml")])


def load_conditions() -> list[tuple[str, str, str]]:
    """(file name, "rule X" or "macro Y", condition) for every rule and macro found."""
    found: list[tuple[str, str, str]] = []
    for path in RULES_FILES:
        if not path.is_file():
            continue
        for item in yaml.safe_load(path.read_text()) or []:
            if not isinstance(item, dict) or not isinstance(item.get("condition"), str):
                continue
            kind = "rule" if "rule" in item else "macro"
            found.append((path.name, f"{kind} {item.get(kind)}", item["condition"]))
    return found


CONDITIONS = load_conditions()
needs_rules = pytest.mark.skipif(
    not CONDITIONS, reason=shared_data.missing_reason(*shared_data.FALCO_RULES)
)


@needs_rules
def test_every_real_condition_parses() -> None:
    failures = []
    for name, what, condition in CONDITIONS:
        try:
            parse_condition(condition)
        except ConditionSyntaxError as error:
            failures.append(f"{name}: {what}: {error}\n{error.caret(condition)}")
    assert not failures, "\n".join(failures)
    # falco_rules.yaml alone has 112 rules and macros; the three files hold 445.
    assert len(CONDITIONS) >= 100


@needs_rules
def test_real_conditions_use_the_whole_grammar() -> None:
    ops: set[str] = set()
    macros = 0
    for _, _, condition in CONDITIONS:
        for node in walk(parse_condition(condition)):
            if isinstance(node, BinaryCheck):
                ops.add(node.op)
            elif isinstance(node, Identifier):
                macros += 1
    assert {"=", "in", "contains", "startswith", "pmatch", "intersects"} <= ops
    assert macros > 100


def mutate(text: str, edits: list[tuple[int, int, int, str]]) -> str:
    """Apply (kind, position, length, characters) edits: 0 insert, 1 delete, 2 replace,
    3 truncate."""
    for kind, at, length, chars in edits:
        at %= len(text) + 1
        if kind == 0:
            text = text[:at] + chars + text[at:]
        elif kind == 1:
            text = text[:at] + text[at + length :]
        elif kind == 2:
            text = text[:at] + chars + text[at + len(chars) :]
        else:
            text = text[:at]
    return text


SPECIAL = st.sampled_from([*"()[],=!<>\"'\\ \t\n", "and ", "or ", "not ", "val(", "in "])
EDITS = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.integers(0, 2000),
        st.integers(1, 8),
        st.one_of(SPECIAL, st.text(min_size=1, max_size=3)),
    ),
    min_size=1,
    max_size=4,
)


@needs_rules
@settings(
    max_examples=2000,
    deadline=500,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(index=st.integers(0, max(len(CONDITIONS) - 1, 0)), edits=EDITS)
def test_mutated_conditions_parse_or_fail_cleanly(
    index: int, edits: list[tuple[int, int, int, str]]
) -> None:
    text = mutate(CONDITIONS[index][2], edits)
    error: ConditionSyntaxError | None = None
    try:
        parse_condition(text)
    except ConditionSyntaxError as raised:
        error = raised
    if error is not None:
        assert 0 <= error.pos <= len(text)
        assert error.expected
        assert "^" in error.caret(text)
