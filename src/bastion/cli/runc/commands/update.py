"""bastion-runc update: change a container's cgroup limits while it runs (runc's flags).

Either `--resources FILE` (`-` for stdin), a LinuxResources JSON document, in which case the other
options are ignored as runc ignores them; or the options below, which build the same document.
Sizes take docker/go-units' RAMInBytes forms as runc does ("512m", "1.5g", "64MiB"; binary
multiples), and `-1` for unlimited. A 0 leaves a value unchanged. Merging with the current
limits and applying them is `bastion.runtime.control.update`.
"""

from __future__ import annotations

import sys

from bastion.cli.runc.args import Option, UsageError
from bastion.cli.runc.main import require_id
from bastion.errors import BastionError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bastion.cli.runc.main import Context

SUMMARY = "update container resource constraints"
ARGUMENTS = "ID"
OPTIONS = [
    Option(
        "--resources,-r",
        "str",
        None,
        "file with the LinuxResources JSON to apply, or '-' for stdin (other options are "
        "then ignored)",
        "FILE",
    ),
    Option("--blkio-weight", "str", None, "per cgroup weight, from 10 to 1000", "N"),
    Option("--cpu-period", "str", None, "CPU CFS period for hardcapping (in usecs)", "USECS"),
    Option("--cpu-quota", "str", None, "CPU CFS hardcap limit (in usecs) per period", "USECS"),
    Option("--cpu-share", "str", None, "CPU shares (relative weight vs. other containers)", "N"),
    Option("--cpu-rt-period", "str", None, "CPU realtime period (in usecs)", "USECS"),
    Option("--cpu-rt-runtime", "str", None, "CPU realtime hardcap limit (in usecs)", "USECS"),
    Option("--cpuset-cpus", "str", None, "CPU(s) to use", "LIST"),
    Option("--cpuset-mems", "str", None, "memory node(s) to use", "LIST"),
    Option("--memory", "str", None, "memory limit (in bytes; 512m, 1g ...)", "SIZE"),
    Option("--memory-reservation", "str", None, "memory reservation or soft limit", "SIZE"),
    Option("--memory-swap", "str", None, "memory + swap limit; -1 for unlimited swap", "SIZE"),
    Option("--kernel-memory", "str", None, "accepted and ignored with a warning (as runc)", "SIZE"),
    Option("--kernel-memory-tcp", "str", None, "accepted and ignored with a warning", "SIZE"),
    Option("--pids-limit", "str", None, "maximum number of pids in the container", "N"),
    Option("--l3-cache-schema", "str", None, "Intel RDT/CAT schema: not supported", "SCHEMA"),
    Option("--mem-bw-schema", "str", None, "Intel RDT/MBA schema: not supported", "SCHEMA"),
]

_INT64 = (-(2**63), 2**63 - 1)
_UINT64 = (0, 2**64 - 1)
_UINT16 = (0, 2**16 - 1)
_BINARY = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}

# (option key, section, field, parser) in runc's order; a parser returns the JSON value.
_SIZE, _INT, _UINT, _WEIGHT, _TEXT = "size", "int", "uint", "weight", "text"
_FLAGS = (
    ("blkio_weight", "blockIO", "weight", _WEIGHT),
    ("cpuset_cpus", "cpu", "cpus", _TEXT),
    ("cpuset_mems", "cpu", "mems", _TEXT),
    ("cpu_period", "cpu", "period", _UINT),
    ("cpu_rt_period", "cpu", "realtimePeriod", _UINT),
    ("cpu_share", "cpu", "shares", _UINT),
    ("cpu_quota", "cpu", "quota", _INT),
    ("cpu_rt_runtime", "cpu", "realtimeRuntime", _INT),
    ("memory", "memory", "limit", _SIZE),
    ("memory_swap", "memory", "swap", _SIZE),
    ("kernel_memory", "memory", "kernel", _SIZE),
    ("kernel_memory_tcp", "memory", "kernelTCP", _SIZE),
    ("memory_reservation", "memory", "reservation", _SIZE),
    ("pids_limit", "pids", "limit", _INT),
)


class IntelRdtUnsupported(BastionError):
    """Raised for `update --l3-cache-schema` or `--mem-bw-schema`: bastion has no Intel RDT."""

    reference = "intel-rdt-unsupported"


def run(ctx: Context, values: dict[str, Any], positional: list[str]) -> int:
    from bastion.runtime.container import Container
    from bastion.runtime.control import parse_resources, update

    container_id = require_id(positional, "update")
    for key in ("l3_cache_schema", "mem_bw_schema"):
        if values[key]:
            option = "--" + key.replace("_", "-")
            raise IntelRdtUnsupported(
                "Intel RDT (resctrl) is not supported by bastion-runc",
                where=option,
                hint=f"drop {option}",
            )
    if values["resources"]:
        given = [f"--{key.replace('_', '-')}" for key, *_ in _FLAGS if values[key]]
        if given:
            ctx.log.warning(f"--resources is given: ignoring {' '.join(given)} (as runc does)")
        source = values["resources"]
        changes = parse_resources(_read(source), "<stdin>" if source == "-" else source)
    else:
        changes = resources_from_flags(values)
    container = Container.load(ctx.root, container_id)
    for warning in update(container, changes):
        ctx.log.warning(warning)
    return 0


def _read(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    try:
        with open(source, "rb") as f:
            return f.read()
    except OSError as exc:
        from bastion.oci.decode import SpecError

        raise SpecError(
            f"cannot read the resources file: {exc.strerror}",
            where=source,
            reference="spec-unreadable",
        ) from None


def resources_from_flags(values: dict[str, Any]) -> dict[str, Any]:
    """The LinuxResources document the options ask for (flags not given are left out)."""
    doc: dict[str, Any] = {}
    for key, section, field, kind in _FLAGS:
        text = values.get(key)
        if not text:  # runc: an empty value is the same as no flag
            continue
        option = "--" + key.replace("_", "-")
        doc.setdefault(section, {})[field] = _convert(text, kind, option)
    return doc


def _convert(text: str, kind: str, option: str) -> int | str:
    if kind == _TEXT:
        return text
    if kind == _SIZE:
        return -1 if text == "-1" else ram_in_bytes(text, option)
    bounds = {_INT: _INT64, _UINT: _UINT64, _WEIGHT: _UINT16}[kind]
    if not (text.isdigit() or (kind == _INT and text[:1] in "+-" and text[1:].isdigit())):
        raise UsageError(f"invalid value for {option}: {text!r} is not an integer")
    number = int(text)
    if not bounds[0] <= number <= bounds[1]:
        raise UsageError(
            f"invalid value for {option}: {number} is outside {bounds[0]} to {bounds[1]}"
        )
    return number


def ram_in_bytes(text: str, option: str = "size") -> int:
    """docker/go-units' RAMInBytes, which runc's update uses for sizes: a non-negative number,
    an optional space, then an optional unit: b, or k/m/g/t/p (times 1024^n) with an optional
    "b" or "ib", any case ("100", "512m", "1.5GiB", "64 KB"). Fractions are truncated."""
    sep = max(text.rfind(c) for c in "0123456789. ")
    if sep < 0:
        raise UsageError(f"invalid value for {option}: invalid size {text!r}")
    number, suffix = (text[: sep + 1], text[sep + 1 :])
    if text[sep] == " ":
        number = text[:sep]
    try:
        if not number or number != number.strip() or "_" in number:
            raise ValueError(number)
        size = float(number)
    except ValueError:
        raise UsageError(f"invalid value for {option}: invalid size {text!r}") from None
    if size < 0 or size != size:  # negative, or NaN
        raise UsageError(f"invalid value for {option}: invalid size {text!r}")
    suffix = suffix.lower()
    if suffix and suffix != "b":
        multiplier = _BINARY.get(suffix[0])
        if multiplier is None or len(suffix) > 3 or suffix[1:] not in ("", "b", "ib"):
            raise UsageError(f"invalid value for {option}: invalid suffix {suffix!r}")
        size *= multiplier
    if size >= 2**63:
        raise UsageError(f"invalid value for {option}: {text!r} is too large")
    return int(size)
