"""decode_spec / load_spec: every field, every error kind, and the JSON paths errors name."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from bastion import jsonio
from bastion._record import fields
from bastion.oci import spec as spec_module
from bastion.oci.decode import SpecError, SpecNotFound, decode_spec, load_spec
from bastion.oci.spec import Process, Spec, User

# A config.json that sets every field the records model, each to a value that is not its default,
# so a field the decoder forgot shows up as a difference. It is also valid against the schema
# (test_oci_schema.py checks that).
FULL: dict[str, Any] = json.loads((Path(__file__).parent / "full-config.json").read_text())

MINIMAL: dict[str, Any] = {"ociVersion": "1.1.0", "root": {"path": "rootfs"}}

# JSON keys whose camelCase is not what the snake_case attribute gives mechanically.
_KEY_EXCEPTIONS = {
    "oci_version": "ociVersion",
    "class_": "class",
    "class_id": "classID",
    "kernel_tcp": "kernelTCP",
    "container_id": "containerID",
    "host_id": "hostID",
    "disable_oom_killer": "disableOOMKiller",
    "clos_id": "closID",
    "block_io": "blockIO",
    "throttle_read_iops_device": "throttleReadIOPSDevice",
    "throttle_write_iops_device": "throttleWriteIOPSDevice",
    "exec_cpu_affinity": "execCPUAffinity",
}


def _json_key(attribute: str) -> str:
    if attribute in _KEY_EXCEPTIONS:
        return _KEY_EXCEPTIONS[attribute]
    first, *rest = attribute.split("_")
    return first + "".join(part.capitalize() for part in rest)


def _encode(value: object) -> object:
    """Records back to JSON-shaped data, using only the naming rule: proves names and coverage."""
    if hasattr(value, "__record_fields__"):
        return {
            _json_key(name): _encode(getattr(value, name))
            for name in fields(value)
            if getattr(value, name) not in (None, ())
        }
    if isinstance(value, tuple):
        return [_encode(item) for item in value]
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    return value


def _records(value: object) -> list[object]:
    """Every record in a decoded tree."""
    found: list[object] = []
    if hasattr(value, "__record_fields__"):
        found.append(value)
        for name in fields(value):
            found.extend(_records(getattr(value, name)))
    elif isinstance(value, tuple):
        for item in value:
            found.extend(_records(item))
    elif isinstance(value, dict):
        for item in value.values():
            found.extend(_records(item))
    return found


def _decode(doc: object, source: str = "config.json") -> Spec:
    return decode_spec(jsonio.dumps(doc), source=source)


def _error(doc: object) -> SpecError:
    with pytest.raises(SpecError) as info:
        _decode(doc)
    return info.value


def _with(doc: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """A deep copy of `doc` with the value at dotted `path` set ("process.args.0"); ... deletes."""
    result = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node: Any = result
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    key: Any = int(last) if isinstance(node, list) else last
    if value is ...:
        del node[key]
    else:
        node[key] = value
    return result


# --- every field -----------------------------------------------------------------------------


def test_every_field_round_trips() -> None:
    spec = _decode(FULL)
    assert _encode(spec) == FULL


def test_the_full_document_sets_every_field_of_every_record() -> None:
    records = _records(_decode(FULL))
    every = {f"{type(r).__name__}.{name}" for r in records for name in fields(r)}
    set_somewhere = {
        f"{type(r).__name__}.{name}"
        for r in records
        for name in fields(r)
        if getattr(r, name) not in (None, ())
    }
    assert every - set_somewhere == set()
    record_classes = {
        obj
        for obj in vars(spec_module).values()
        if isinstance(obj, type) and hasattr(obj, "__record_fields__")
    }
    assert {type(r) for r in records} == record_classes


def test_minimal_document_gets_the_documented_defaults() -> None:
    spec = _decode({**MINIMAL, "process": {"cwd": "/"}})
    assert spec.root is not None and spec.root.readonly is False
    assert spec.process == Process(cwd="/")
    assert spec.process.user == User(uid=0, gid=0)
    assert spec.process.terminal is False and spec.process.no_new_privileges is False
    assert (spec.mounts, spec.hooks, spec.annotations, spec.linux) == ((), None, None, None)


def test_decodes_str_and_bytes_alike() -> None:
    text = jsonio.dumps(FULL)
    assert decode_spec(text) == decode_spec(text.encode())


def test_unknown_keys_are_ignored_like_go() -> None:
    doc = _with(_with(FULL, "vm", {"hypervisor": {}}), "process.futureKnob", [1, 2])
    doc = _with(doc, "linux.resources.memory.somethingNew", True)
    assert _decode(doc) == _decode(FULL)


def test_null_reads_as_absent_like_go() -> None:
    doc = {**MINIMAL, "hostname": None, "mounts": None, "linux": {"seccomp": None, "sysctl": None}}
    spec = _decode(doc)
    assert spec.hostname is None and spec.mounts == ()
    assert spec.linux is not None and spec.linux.seccomp is None and spec.linux.sysctl is None


def test_int64_fields_take_minus_one_for_unlimited() -> None:
    spec = _decode(_with(MINIMAL, "linux.resources.memory.limit", -1))
    assert spec.linux and spec.linux.resources and spec.linux.resources.memory
    assert spec.linux.resources.memory.limit == -1


def test_extreme_values_of_each_integer_type_are_accepted() -> None:
    doc = _with(MINIMAL, "linux.resources.memory.limit", 2**63 - 1)
    doc = _with(doc, "linux.resources.memory.swap", -(2**63))
    doc = _with(doc, "linux.resources.memory.swappiness", 2**64 - 1)
    doc = _with(doc, "linux.uidMappings", [{"containerID": 2**32 - 1, "hostID": 0, "size": 1}])
    assert _decode(doc).linux is not None


def test_lone_surrogates_become_replacement_characters_like_go() -> None:
    spec = decode_spec('{"ociVersion": "1.1.0", "hostname": "a\\ud800b"}')
    assert spec.hostname == "a\ufffdb"


def test_invalid_utf8_inside_strings_becomes_replacement_characters_like_go() -> None:
    spec = decode_spec(b'{"ociVersion": "1.1.0", "hostname": "a\xffb"}')
    assert spec.hostname == "a\ufffdb"


def test_annotations_may_hold_any_string() -> None:
    spec = _decode(_with(MINIMAL, "annotations", {"k": "a\x00b"}))
    assert spec.annotations == {"k": "a\x00b"}


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "reference", "where"),
    [
        pytest.param([1], "spec-wrong-type", "config.json", id="document-not-object"),
        pytest.param({}, "spec-missing-field", "ociVersion", id="no-ociVersion"),
        pytest.param({"ociVersion": 1}, "spec-wrong-type", "ociVersion", id="ociVersion-int"),
        pytest.param(
            _with(MINIMAL, "process", "sh"), "spec-wrong-type", "process", id="process-str"
        ),
        pytest.param(
            _with(MINIMAL, "process", {"args": ["sh"]}),
            "spec-missing-field",
            "process.cwd",
            id="no-cwd",
        ),
        pytest.param(
            _with(FULL, "process.cwd", None), "spec-wrong-type", "process.cwd", id="cwd-null"
        ),
        pytest.param(
            _with(FULL, "process.capabilities.bounding", ["CAP_KILL", "CAP_CHOWN", "x", 3]),
            "spec-wrong-type",
            "process.capabilities.bounding[3]",
            id="cap-not-string",
        ),
        pytest.param(
            _with(FULL, "process.capabilities.ambient", "CAP_KILL"),
            "spec-wrong-type",
            "process.capabilities.ambient",
            id="cap-set-not-array",
        ),
        pytest.param(
            _with(FULL, "linux.resources.memory.limit", "1g"),
            "spec-wrong-type",
            "linux.resources.memory.limit",
            id="limit-string",
        ),
        pytest.param(
            _with(FULL, "linux.resources.memory.limit", True),
            "spec-wrong-type",
            "linux.resources.memory.limit",
            id="limit-bool-is-not-int",
        ),
        pytest.param(
            _with(FULL, "linux.resources.memory.limit", 1.0),
            "spec-wrong-type",
            "linux.resources.memory.limit",
            id="limit-float",
        ),
        pytest.param(
            _with(FULL, "linux.resources.memory.limit", 2**63),
            "spec-invalid-value",
            "linux.resources.memory.limit",
            id="int64-overflow",
        ),
        pytest.param(
            _with(FULL, "linux.resources.memory.swappiness", -1),
            "spec-invalid-value",
            "linux.resources.memory.swappiness",
            id="uint64-negative",
        ),
        pytest.param(
            _with(FULL, "linux.resources.memory.swappiness", 2**64),
            "spec-invalid-value",
            "linux.resources.memory.swappiness",
            id="uint64-overflow",
        ),
        pytest.param(
            _with(FULL, "process.user.uid", 2**32),
            "spec-invalid-value",
            "process.user.uid",
            id="uint32-overflow",
        ),
        pytest.param(
            _with(FULL, "linux.resources.blockIO.weight", 65536),
            "spec-invalid-value",
            "linux.resources.blockIO.weight",
            id="uint16-overflow",
        ),
        pytest.param(
            _with(FULL, "process.scheduler.nice", -(2**31) - 1),
            "spec-invalid-value",
            "process.scheduler.nice",
            id="int32-underflow",
        ),
        pytest.param(
            _with(FULL, "process.user.additionalGids", [5, -1]),
            "spec-invalid-value",
            "process.user.additionalGids[1]",
            id="gid-list-item",
        ),
        pytest.param(
            _with(FULL, "hooks.prestart.0.timeout", 0),
            "spec-invalid-value",
            "hooks.prestart[0].timeout",
            id="hook-timeout-zero",
        ),
        pytest.param(
            _with(FULL, "linux.devices.0.fileMode", 0o10000),
            "spec-invalid-value",
            "linux.devices[0].fileMode",
            id="file-mode",
        ),
        pytest.param(
            _with(FULL, "mounts", [{"destination": "/a"}, {"destination": "/b"}, {"type": "x"}]),
            "spec-missing-field",
            "mounts[2].destination",
            id="mount-no-destination",
        ),
        pytest.param(
            _with(FULL, "mounts.0.uidMappings.0.size", ...),
            "spec-missing-field",
            "mounts[0].uidMappings[0].size",
            id="mapping-no-size",
        ),
        pytest.param(
            _with(FULL, "process.rlimits.0.soft", "1024"),
            "spec-wrong-type",
            "process.rlimits[0].soft",
            id="rlimit-soft-string",
        ),
        pytest.param(
            _with(FULL, "linux.sysctl", {"net.ipv4.ip_forward": 1}),
            "spec-wrong-type",
            'linux.sysctl["net.ipv4.ip_forward"]',
            id="sysctl-value-int",
        ),
        pytest.param(
            _with(FULL, "linux.timeOffsets.monotonic", 5),
            "spec-wrong-type",
            'linux.timeOffsets["monotonic"]',
            id="time-offset-not-object",
        ),
        pytest.param(
            _with(FULL, "linux.seccomp.syscalls.0.names", ...),
            "spec-missing-field",
            "linux.seccomp.syscalls[0].names",
            id="syscall-no-names",
        ),
        pytest.param(
            _with(FULL, "linux.seccomp.syscalls.0.args.0.op", ...),
            "spec-missing-field",
            "linux.seccomp.syscalls[0].args[0].op",
            id="seccomp-arg-no-op",
        ),
        pytest.param(
            _with(FULL, "linux.resources.devices.1.allow", ...),
            "spec-missing-field",
            "linux.resources.devices[1].allow",
            id="device-rule-no-allow",
        ),
        pytest.param(
            _with(FULL, "linux.resources.devices.1.allow", "yes"),
            "spec-wrong-type",
            "linux.resources.devices[1].allow",
            id="device-rule-allow-string",
        ),
        pytest.param(
            _with(FULL, "linux.resources.pids", {}),
            "spec-missing-field",
            "linux.resources.pids.limit",
            id="pids-no-limit",
        ),
        pytest.param(
            _with(FULL, "root.readonly", "true"),
            "spec-wrong-type",
            "root.readonly",
            id="readonly-string",
        ),
        pytest.param(
            _with(FULL, "process.args", ["sh", "a\x00b"]),
            "spec-invalid-value",
            "process.args[1]",
            id="nul-in-arg",
        ),
        pytest.param(
            _with(FULL, "annotations", {"k": 1}),
            "spec-wrong-type",
            'annotations["k"]',
            id="annotation-value-int",
        ),
        pytest.param(
            _with(FULL, "linux.namespaces.1", {"path": "/proc/1/ns/net"}),
            "spec-missing-field",
            "linux.namespaces[1].type",
            id="namespace-no-type",
        ),
    ],
)
def test_decode_errors_name_reference_and_path(doc: object, reference: str, where: str) -> None:
    error = _error(doc)
    assert (error.reference, error.where) == (reference, where)
    assert error.message  # says what was expected and found


def test_wrong_type_message_says_expected_and_found() -> None:
    error = _error(_with(FULL, "linux.resources.memory.limit", "1g"))
    assert "integer" in error.message and "string" in error.message


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{\n  "ociVersion": "1.1.0",\n  "process": {,}\n}', "b/config.json:3:15"),
        ('{"ociVersion": "1.1.0"', "b/config.json:1:23"),
        ('{"ociVersion": "1.1.0"} x', "b/config.json:1:25"),
        ("", "b/config.json:1:1"),
        ("\ufeff{}", "b/config.json:1:1"),
    ],
)
def test_json_syntax_errors_give_line_and_column(text: str, where: str) -> None:
    with pytest.raises(SpecError) as info:
        decode_spec(text, source="b/config.json")
    assert (info.value.reference, info.value.where) == ("spec-not-json", where)


@pytest.mark.parametrize("text", ['{"n": NaN}', '{"n": -Infinity}', '{"n": 1' + "0" * 5000 + "}"])
def test_non_json_numbers_are_syntax_errors(text: str) -> None:
    # Go's encoding/json has no NaN or Infinity; Python's would accept them.
    with pytest.raises(SpecError) as info:
        decode_spec(text)
    assert info.value.reference == "spec-not-json"
    assert info.value.where is not None and info.value.where.startswith("config.json")


def test_invalid_utf8_outside_strings_is_a_syntax_error() -> None:
    with pytest.raises(SpecError) as info:
        decode_spec(b'{"ociVersion": "1.1.0",\n \xff}')
    assert (info.value.reference, info.value.where) == ("spec-not-json", "config.json:2:2")


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(SpecError) as info:
        decode_spec("[" * 100_000)
    assert (info.value.reference, info.value.where) == ("spec-not-json", "config.json")


def test_spec_error_renders_reference_and_path() -> None:
    error = _error(_with(FULL, "linux.resources.memory.limit", "1g"))
    assert error.render().startswith("error[spec-wrong-type]: linux.resources.memory.limit: ")


# --- load_spec ---------------------------------------------------------------------------------


def test_load_spec_reads_bundle_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(jsonio.dumps(FULL))
    assert load_spec(str(tmp_path)) == _decode(FULL)


def test_load_spec_without_config_says_where_and_how(tmp_path: Path) -> None:
    with pytest.raises(SpecNotFound) as info:
        load_spec(str(tmp_path))
    assert info.value.reference == "spec-not-found"
    assert info.value.where == os.path.join(str(tmp_path), "config.json")
    assert info.value.hint


def test_load_spec_of_missing_bundle_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(SpecNotFound):
        load_spec(str(tmp_path / "nope"))


def test_load_spec_unreadable_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").mkdir()
    with pytest.raises(SpecError) as info:
        load_spec(str(tmp_path))
    assert info.value.reference == "spec-unreadable"


def test_load_spec_syntax_error_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{\n "ociVersion": \n}')
    with pytest.raises(SpecError) as info:
        load_spec(str(tmp_path))
    assert info.value.where == f"{tmp_path / 'config.json'}:3:1"
