"""state.json as a record: every field round-trips, and a damaged file is a clear error."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bastion._record import fields, replace
from bastion.runtime import store
from bastion.runtime.errors import CorruptState
from bastion.runtime.state import ContainerState, decode_state, encode_state, load_state

if TYPE_CHECKING:
    from .conftest import MakeState


def test_every_field_round_trips_under_its_own_name(saved: MakeState) -> None:
    state = replace(saved(), pid=42, pid_start=7, annotations={"a": "b"}, cgroup_preexisting=True)
    doc = json.loads(encode_state(state))
    assert sorted(doc) == sorted(fields(ContainerState))
    assert doc["pid"] == 42 and doc["annotations"] == {"a": "b"}
    assert decode_state(encode_state(state), "state.json") == state


def test_fields_with_defaults_may_be_absent_and_unknown_keys_are_ignored(saved: MakeState) -> None:
    doc = json.loads(encode_state(saved()))
    del doc["pid"], doc["pid_start"]
    doc["from_a_newer_version"] = [1]
    state = decode_state(json.dumps(doc).encode(), "state.json")
    assert (state.pid, state.pid_start) == (0, None)


def _error(data: bytes) -> CorruptState:
    with pytest.raises(CorruptState) as err:
        decode_state(data, "/run/x/state.json")
    assert err.value.reference == "state-corrupt"
    assert err.value.hint and "delete --force" in err.value.hint
    return err.value


def test_a_truncated_file_names_the_file(saved: MakeState) -> None:
    whole = encode_state(saved())
    for cut in (0, 1, len(whole) // 2, len(whole) - 1):
        err = _error(whole[:cut])
        assert err.where == "/run/x/state.json"


def test_a_missing_key_is_named(saved: MakeState) -> None:
    doc = json.loads(encode_state(saved()))
    del doc["cgroup_path"]
    assert "'cgroup_path' is missing" in _error(json.dumps(doc).encode()).message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("pid", "12"),
        ("pid", True),
        ("has_poststop", 1),
        ("creator_pid", None),
        ("id", 3),
        ("annotations", {"a": 1}),
        ("annotations", []),
    ],
)
def test_a_value_of_the_wrong_kind_names_the_key(key: str, value: object, saved: MakeState) -> None:
    doc = json.loads(encode_state(saved()))
    doc[key] = value
    err = _error(json.dumps(doc).encode())
    assert err.where == f"/run/x/state.json#{key}"


def test_not_an_object() -> None:
    assert "expected a JSON object" in _error(b"[1, 2]").message


def test_load_state_reads_a_container_under_a_root(tmp_path: Path, saved: MakeState) -> None:
    store.reserve(str(tmp_path), "c1", saved("c1"), b"{}")
    assert load_state(str(tmp_path), "c1") == saved("c1")
    with open(os.path.join(tmp_path, "c1", "state.json"), "wb") as f:
        f.write(b'{"id": "c1", "stat')
    with pytest.raises(CorruptState):
        load_state(str(tmp_path), "c1")
