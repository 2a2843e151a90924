"""runc update's flags → a LinuxResources document (`bastion.runtime.update_flags`): sizes as
docker/go-units' RAMInBytes reads them, each flag's field and range, and what is refused."""

from __future__ import annotations

import pytest

from bastion.cli.runc.args import parse
from bastion.cli.runc.commands import update as update_cmd
from bastion.runtime.control import decode_resources
from bastion.runtime.update_flags import (
    IntelRdtUnsupported,
    InvalidFlagValueError,
    ram_in_bytes,
    resources_from_flags,
)

MIB = 1 << 20


def _flags(*argv: str) -> dict[str, dict[str, int | str]]:
    """The document for runc's command line `argv` (parsed by bastion-runc's own parser)."""
    values, positional = parse([*argv, "some-id"], update_cmd.OPTIONS)
    assert positional == ["some-id"]
    return resources_from_flags(values)


# --- sizes: docker/go-units RAMInBytes, as runc update parses them ---------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("100", 100),
        ("100b", 100),
        ("100B", 100),
        ("1k", 1024),
        ("1K", 1024),
        ("1kb", 1024),
        ("1KiB", 1024),
        ("512m", 512 * MIB),
        ("64MiB", 64 * MIB),
        ("64 MB", 64 * MIB),
        ("1.5g", 3 << 29),
        ("2G", 2 << 30),
        ("1t", 1 << 40),
        ("1p", 1 << 50),
        ("1.9", 1),  # Go truncates the float
        ("1e3", 1000),
        ("5 ", 5),  # go-units drops the space before an (empty) unit
    ],
)
def test_ram_in_bytes(text: str, expected: int) -> None:
    assert ram_in_bytes(text) == expected


@pytest.mark.parametrize(
    "text", ["", "m", "-5", "5x", "5kk", "5kib0", " 5", "5kbb", "1_000", "5.5.5m", "9e30"]
)
def test_ram_in_bytes_refuses(text: str) -> None:
    with pytest.raises(InvalidFlagValueError) as err:
        ram_in_bytes(text, "--memory")
    assert "--memory" in err.value.message


# --- flags → document ---------------------------------------------------------------------------


def test_every_flag_maps_to_its_field() -> None:
    doc = _flags(
        "--memory", "64m",
        "--memory-reservation", "32m",
        "--memory-swap", "-1",
        "--kernel-memory", "1g",
        "--kernel-memory-tcp", "1m",
        "--cpu-quota", "-1",
        "--cpu-period", "100000",
        "--cpu-share", "512",
        "--cpu-rt-period", "1000000",
        "--cpu-rt-runtime", "950000",
        "--cpuset-cpus", "0-1",
        "--cpuset-mems", "0",
        "--pids-limit", "64",
        "--blkio-weight", "500",
    )  # fmt: skip
    assert doc == {
        "memory": {
            "limit": 64 * MIB,
            "reservation": 32 * MIB,
            "swap": -1,
            "kernel": 1 << 30,
            "kernelTCP": MIB,
        },
        "cpu": {
            "quota": -1,
            "period": 100000,
            "shares": 512,
            "realtimePeriod": 1000000,
            "realtimeRuntime": 950000,
            "cpus": "0-1",
            "mems": "0",
        },
        "pids": {"limit": 64},
        "blockIO": {"weight": 500},
    }
    # What the flags build is a valid LinuxResources document.
    decoded = decode_resources(doc, "resources")
    assert decoded.pids is not None
    assert decoded.pids.limit == 64


def test_no_flag_is_an_empty_document() -> None:
    assert _flags() == {}


def test_empty_value_is_no_flag() -> None:
    assert _flags("--memory", "", "--cpuset-cpus=") == {}


@pytest.mark.parametrize(
    "argv",
    [
        ["--cpu-period", "-1"],  # uint64
        ["--cpu-period", "1.5"],
        ["--cpu-share", "lots"],
        ["--cpu-quota", "1e3"],
        ["--cpu-quota", str(2**63)],
        ["--pids-limit", "x"],
        ["--blkio-weight", "70000"],  # uint16
        ["--memory", "64x"],
        ["--memory-swap", "-2"],
    ],
)
def test_bad_flag_values(argv: list[str]) -> None:
    with pytest.raises(InvalidFlagValueError) as err:
        _flags(*argv)
    assert argv[0] in err.value.message


def test_flags_from_python_need_no_command_line() -> None:
    doc = resources_from_flags({"memory": "512m", "memory_swap": "-1", "pids_limit": None})
    assert doc == {"memory": {"limit": 512 * MIB, "swap": -1}}


@pytest.mark.parametrize("key", ["l3_cache_schema", "mem_bw_schema"])
def test_intel_rdt_is_refused(key: str) -> None:
    with pytest.raises(IntelRdtUnsupported) as err:
        resources_from_flags({key: "L3:0=f", "memory": "1m"})
    assert err.value.where == "--" + key.replace("_", "-")
