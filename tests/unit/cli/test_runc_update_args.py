"""`bastion-runc update`: its options (mapped by `bastion.runtime.update_flags`, tested in
tests/unit/runtime/test_update_flags.py), the merge over the current resources
(`bastion.runtime.control.merge_resources`); plus the small parsers of `events --interval` and
of `ps`'s table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bastion.cli.runc.args import UsageError, parse
from bastion.cli.runc.commands import update as update_cmd
from bastion.cli.runc.commands.events import parse_duration
from bastion.cli.runc.commands.ps import PsFailed, filter_table
from bastion.cli.runc.main import main
from bastion.oci import SpecError
from bastion.runtime.control import (
    DEVICES_WARNING,
    KERNEL_MEMORY_WARNING,
    decode_resources,
    merge_resources,
    parse_resources,
)
from bastion.runtime.update_flags import INTEL_RDT_FLAGS, RESOURCE_FLAGS, resources_from_flags

MIB = 1 << 20


def _flags(*argv: str) -> dict[str, Any]:
    values, positional = parse([*argv, "some-id"], update_cmd.OPTIONS)
    assert positional == ["some-id"]
    return resources_from_flags(values)


# --- the options are the library's flags --------------------------------------------------------


def test_every_library_flag_is_an_option() -> None:
    keys = {declared.key for declared in update_cmd.OPTIONS}
    assert set(RESOURCE_FLAGS) | set(INTEL_RDT_FLAGS) | {"resources"} == keys


def test_short_resources_flag_is_resources() -> None:
    values, _ = parse(["-r", "/x.json", "id"], update_cmd.OPTIONS)
    assert values["resources"] == "/x.json"


@pytest.mark.parametrize(
    ("argv", "status", "line"),
    [
        (["--memory", "lots"], 2, "error[usage]: invalid value for --memory: invalid size 'lots'"),
        (["--cpu-period", "-1"], 2, "error[usage]: invalid value for --cpu-period: '-1' is not"),
        (["--l3-cache-schema", "L3:0=f"], 1, "error[intel-rdt-unsupported]: --l3-cache-schema"),
    ],
)
def test_a_bad_flag_is_refused_before_any_container_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], status: int, line: str
) -> None:
    # tmp_path holds no container: the refusal comes first, as a usage error like runc's.
    assert main(["--root", str(tmp_path), "update", *argv, "some-id"]) == status
    assert capsys.readouterr().err.startswith(line)


# --- merge --------------------------------------------------------------------------------------


CURRENT: dict[str, Any] = {
    "devices": [{"allow": False, "access": "rwm"}],
    "memory": {"limit": 64 * MIB, "swap": 64 * MIB},
    "cpu": {"quota": 50000, "period": 100000, "cpus": "0"},
    "pids": {"limit": 8},
    "unified": {"memory.high": "max"},
}


def test_merge_overrides_given_fields_and_keeps_the_rest() -> None:
    merged, warnings = merge_resources(
        CURRENT, _flags("--pids-limit", "64", "--cpu-quota", "25000")
    )
    assert merged == {
        **CURRENT,
        "cpu": {"quota": 25000, "period": 100000, "cpus": "0"},
        "pids": {"limit": 64},
    }
    assert warnings == []
    assert CURRENT["pids"] == {"limit": 8}  # not changed in place


def test_merge_over_nothing() -> None:
    merged, _ = merge_resources({}, _flags("--memory", "32m", "--memory-swap", "32m"))
    assert merged == {"memory": {"limit": 32 * MIB, "swap": 32 * MIB}}


def test_quota_alone_keeps_the_period_and_period_alone_keeps_the_quota() -> None:
    # runc: "if only one of {quota,period} is set ... leave the unset parameter at the old value"
    merged, _ = merge_resources(CURRENT, _flags("--cpu-period", "200000"))
    assert merged["cpu"] == {"quota": 50000, "period": 200000, "cpus": "0"}


def test_zero_and_empty_mean_unchanged() -> None:
    changes = {
        "memory": {"limit": 0, "reservation": 0, "swap": 0},
        "cpu": {"quota": 0, "period": 0, "shares": 0, "cpus": "", "mems": ""},
        "pids": {"limit": 0},
        "blockIO": {"weight": 0, "weightDevice": []},
    }
    merged, _ = merge_resources(CURRENT, changes)
    assert merged == {**CURRENT, "blockIO": {}}


def test_zero_is_a_value_where_runc_writes_it() -> None:
    merged, _ = merge_resources(CURRENT, {"memory": {"swappiness": 0}, "cpu": {"burst": 0}})
    assert merged["memory"]["swappiness"] == 0
    assert merged["cpu"]["burst"] == 0


def test_unlimited_values_are_changes() -> None:
    merged, _ = merge_resources(CURRENT, _flags("--memory", "-1", "--memory-swap", "-1"))
    assert merged["memory"] == {"limit": -1, "swap": -1}
    merged, _ = merge_resources(CURRENT, {"pids": {"limit": -1}})
    assert merged["pids"] == {"limit": -1}


def test_kernel_memory_is_dropped_with_runcs_warning() -> None:
    merged, warnings = merge_resources(CURRENT, _flags("--kernel-memory", "1g", "--memory", "1g"))
    assert merged["memory"] == {"limit": 1 << 30, "swap": 64 * MIB}
    assert warnings == [KERNEL_MEMORY_WARNING]
    _, warnings = merge_resources(CURRENT, {"memory": {"kernel": 1, "kernelTCP": 1}})
    assert warnings == [KERNEL_MEMORY_WARNING]


def test_devices_are_never_updated() -> None:
    new_rules = [{"allow": True, "access": "rwm"}]
    merged, warnings = merge_resources(CURRENT, {"devices": new_rules})
    assert merged["devices"] == CURRENT["devices"]
    assert warnings == [DEVICES_WARNING]


def test_maps_merge_by_key_and_hugepages_by_size() -> None:
    current = {
        "unified": {"memory.high": "max", "cpu.weight": "100"},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 0}, {"pageSize": "1GB", "limit": 0}],
    }
    changes = {
        "unified": {"memory.high": "50M"},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MIB}],
        "rdma": {"mlx5_0": {"hcaHandles": 3}},
    }
    merged, _ = merge_resources(current, changes)
    assert merged == {
        "unified": {"memory.high": "50M", "cpu.weight": "100"},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MIB}, {"pageSize": "1GB", "limit": 0}],
        "rdma": {"mlx5_0": {"hcaHandles": 3}},
    }


def test_nulls_and_unknown_keys_change_nothing() -> None:
    merged, _ = merge_resources(CURRENT, {"memory": None, "cpu": {"quota": None}, "nope": 1})
    assert merged == CURRENT


def test_merges_compose() -> None:
    once, _ = merge_resources(CURRENT, _flags("--pids-limit", "64"))
    twice, _ = merge_resources(once, _flags("--memory", "128m", "--memory-swap", "128m"))
    assert twice["pids"] == {"limit": 64}
    assert twice["memory"] == {"limit": 128 * MIB, "swap": 128 * MIB}
    decode_resources(twice, "resources")


# --- --resources documents ----------------------------------------------------------------------


def test_parse_resources_accepts_runcs_example() -> None:
    text = """{
      "memory": {"limit": 0, "reservation": 0, "swap": 0},
      "cpu": {"shares": 0, "quota": 0, "period": 0, "realtimeRuntime": 0,
              "realtimePeriod": 0, "cpus": "", "mems": ""},
      "blockIO": {"weight": 0}
    }"""
    doc = parse_resources(text, "r.json")
    merged, _ = merge_resources(CURRENT, doc)
    assert merged == {**CURRENT, "blockIO": {}}


@pytest.mark.parametrize(
    ("text", "where", "reference"),
    [
        ("{nope", "r.json:1:2", "spec-not-json"),
        ('{"memory": {"limit": 1}', "r.json:1:24", "spec-not-json"),
        ("[]", "resources", "spec-wrong-type"),
        ('{"memory": {"limit": "64m"}}', "resources.memory.limit", "spec-wrong-type"),
        ('{"memory": []}', "resources.memory", "spec-wrong-type"),
        ('{"cpu": {"period": -1}}', "resources.cpu.period", "spec-invalid-value"),
        ('{"pids": {}}', "resources.pids.limit", "spec-missing-field"),
        ('{"blockIO": {"weight": 1.5}}', "resources.blockIO.weight", "spec-wrong-type"),
        ('{"unified": {"memory.max": 5}}', 'resources.unified["memory.max"]', "spec-wrong-type"),
    ],
)
def test_parse_resources_errors_name_the_json_path(text: str, where: str, reference: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_resources(text, "r.json")
    assert err.value.where == where
    assert err.value.reference == reference
    assert "\n" not in err.value.render()


# --- events --interval, ps table ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5s", 5.0),
        ("1s", 1.0),
        ("500ms", 0.5),
        ("1m30s", 90.0),
        ("1.5h", 5400.0),
        ("250us", 0.00025),
        ("1000ns", 0.000001),
        ("0", 0.0),
        ("-1s", -1.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "s", "5x", "1..5s", "five seconds", "-", "5s3"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text, "--interval")


PS_EF = """\
UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root         100       1  0 10:00 ?        00:00:00 sh -c sleep 60 & sleep 60 & wait
root         101     100  0 10:00 ?        00:00:00 sleep 60
root        1010       1  0 10:00 ?        00:00:00 sleep 60
"""


def test_filter_table_keeps_header_and_container_rows() -> None:
    assert filter_table(PS_EF, {100, 101}).splitlines() == [
        PS_EF.splitlines()[0],
        PS_EF.splitlines()[2],
        PS_EF.splitlines()[3],
    ]


def test_filter_table_finds_the_pid_column_anywhere() -> None:
    assert filter_table("COMMAND PID\nsh 7\nsleep 8\n", {8}) == "COMMAND PID\nsleep 8\n"


@pytest.mark.parametrize("output", ["", "COMMAND\nsh\n", "PID CMD\nx sh\n"])
def test_filter_table_errors(output: str) -> None:
    with pytest.raises(PsFailed):
        filter_table(output, {1})
