"""bastion.jsonio matches `json` where bastion-runc uses it, without importing it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion import jsonio

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_round_trip_and_same_text_as_json(value: Any) -> None:
    assert jsonio.loads(jsonio.dumps(value)) == value
    assert jsonio.dumps(value) == json.dumps(value)
    assert jsonio.dumps(value, indent=2, sort_keys=True) == json.dumps(
        value, indent=2, sort_keys=True
    )
    assert jsonio.dumps(value, compact=True) == json.dumps(value, separators=(",", ":"))


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [("{", 1, 2), ('{"a": 1} x', 1, 10), ("", 1, 1), ('{"a": 1,\n  "b" 2}', 2, 7), ("NaN", 1, 1)],
)
def test_syntax_errors_have_positions(text: str, line: int, col: int) -> None:
    with pytest.raises(jsonio.JSONSyntaxError) as err:
        jsonio.loads(text)
    assert (err.value.lineno, err.value.colno) == (line, col)


def test_bytes_and_whitespace() -> None:
    assert jsonio.loads(b' \n{"a": [1, 2.5, "x", null, true]}\t') == {
        "a": [1, 2.5, "x", None, True]
    }
