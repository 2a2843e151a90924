"""Property: whatever config.json says, decode + validate raise SpecError (with a path) or pass.

bastion-runc reads config.json written by other programs (containerd, Podman, people); a
traceback there is a bug. Two mutators: one edits the JSON structure of valid documents (delete
keys, change types, insert garbage, move subtrees, truncate the text), one edits raw bytes.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bastion import jsonio
from bastion.oci import SpecError, decode_spec, default_spec, validate_spec

FULL: dict[str, Any] = json.loads((Path(__file__).parent / "full-config.json").read_text())
BASES: list[dict[str, Any]] = [default_spec(), default_spec(rootless=True), FULL]
REFERENCES = {
    "spec-invalid",
    "spec-not-json",
    "spec-missing-field",
    "spec-wrong-type",
    "spec-invalid-value",
    # a seccomp rule's name that cannot be a syscall (the runtime uses it for unknown ones too)
    "seccomp-unknown-syscall",
}
FUZZ = settings(
    max_examples=3000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(_keys(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(item) for item in value))
    return set()


KEYS = sorted(_keys(BASES))
EDGE_INTS = [-1, 0, 1, 5, 7, 100, 1000, 1001, 2**16, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63]
EDGE_INTS += [2**64 - 1, 2**64, -(2**63), -(2**63) - 1, -(2**31) - 1]
EDGE_STRINGS = [
    "", "/", "rel/path", "/abs/path", "CAP_KILL", "CAP_FOO", "cap_kill", "RLIMIT_NOFILE",
    "RLIMIT_X", "user", "pid", "network", "time", "uts", "ipc", "net", "c", "p", "x", "rwm",
    "SCMP_ACT_NOTIFY", "SCMP_ACT_ALLOW", "SCMP_CMP_EQ", "write", "net.ipv4.ip_forward",
    "kernel.sem", "../x", "2MB", "0MB", "LINUX", "a\x00b", "\ud800", "é", "1.1.0", "2.0",
]  # fmt: skip
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**66), max_value=2**66),
    st.sampled_from(EDGE_INTS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(EDGE_STRINGS),
)
JSON_VALUES = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


# Type-preserving edits are listed thrice: they get past the decoder and exercise validate.
OPS = ["delete", "replace", "insert", "move", "empty"] + ["same-type"] * 3


def _slots(value: object) -> list[tuple[Any, Any]]:
    """Every (container, key) in the document, so a mutation can pick any place."""
    found: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((value, key))
            found.extend(_slots(item))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((value, index))
            found.extend(_slots(item))
    return found


def _mutate(data: st.DataObject, doc: dict[str, Any]) -> None:
    slots = _slots(doc)
    if not slots:
        doc[data.draw(st.sampled_from(KEYS))] = data.draw(JSON_VALUES)
        return
    container, key = data.draw(st.sampled_from(slots))
    op = data.draw(st.sampled_from(OPS))
    if op == "delete":
        del container[key]
    elif op == "replace":
        container[key] = data.draw(JSON_VALUES)
    elif op == "insert":
        if isinstance(container, dict):
            container[data.draw(st.sampled_from(KEYS) | st.text(max_size=6))] = data.draw(
                JSON_VALUES
            )
        else:
            container.insert(key, data.draw(JSON_VALUES))
    elif op == "move":
        other, other_key = data.draw(st.sampled_from(slots))
        container[key] = copy.deepcopy(other[other_key])
    elif op == "same-type":
        # Keep the JSON type, change the value: reaches validate's checks past the decoder.
        old = container[key]
        if isinstance(old, bool):
            container[key] = not old
        elif isinstance(old, int):
            container[key] = data.draw(st.sampled_from(EDGE_INTS))
        elif isinstance(old, str):
            container[key] = data.draw(st.sampled_from(EDGE_STRINGS))
        elif isinstance(old, list) and old:
            old.append(copy.deepcopy(old[0]))
    else:
        container[key] = data.draw(st.sampled_from([{}, [], "", 0, None]))


def _check(text: str | bytes, *, require_process: bool) -> None:
    # `event`s show where inputs stop: pytest --hypothesis-show-statistics.
    stage = "decode"
    error: SpecError | None = None
    try:
        spec = decode_spec(text)
        stage = "validate"
        validate_spec(spec, require_process=require_process)
    except SpecError as exc:
        error = exc
    if error is None:
        event("valid")
        return
    event(f"{stage}: {error.reference}")
    assert error.where, error.render()
    assert error.reference in REFERENCES, error.render()


@FUZZ
@given(data=st.data())
def test_mutated_documents_raise_only_spec_errors(data: st.DataObject) -> None:
    doc = copy.deepcopy(data.draw(st.sampled_from(BASES)))
    for _ in range(data.draw(st.integers(min_value=1, max_value=6))):
        _mutate(data, doc)
    text = jsonio.dumps(doc)
    # Hypothesis favours the bounds of a range, so a middle value makes truncation rare (~5%).
    if data.draw(st.integers(min_value=0, max_value=19)) == 7:
        text = text[: data.draw(st.integers(min_value=0, max_value=len(text)))]
    _check(text, require_process=data.draw(st.booleans()))


@FUZZ
@given(data=st.data())
def test_mutated_bytes_raise_only_spec_errors(data: st.DataObject) -> None:
    if data.draw(st.integers(min_value=0, max_value=4)) == 0:
        raw = bytearray(data.draw(st.binary(max_size=200)))
    else:
        raw = bytearray(jsonio.dumps(data.draw(st.sampled_from(BASES)), indent=1).encode())
    for _ in range(data.draw(st.integers(min_value=1, max_value=8))):
        at = data.draw(st.integers(min_value=0, max_value=len(raw)))
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if op == "flip" and at < len(raw):
            raw[at] = data.draw(st.sampled_from(list(b'{}[],:"\\0123456789-eE.tfn \xff\x00')))
        elif op == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del raw[at : at + data.draw(st.integers(min_value=1, max_value=16))]
        elif op == "truncate":
            del raw[at:]
    _check(bytes(raw), require_process=data.draw(st.booleans()))


def test_the_mutators_also_produce_valid_documents() -> None:
    # Guards the property tests' value: unmutated bases pass, so mutants near them reach
    # validate_spec rather than all stopping at the first decoder check.
    for base in BASES:
        validate_spec(decode_spec(jsonio.dumps(base)), require_process=True)
