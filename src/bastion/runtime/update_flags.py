"""runc update's flags as a LinuxResources document, for `bastion-runc update` and the engine.

`resources_from_flags({"memory": "512m", "pids_limit": "64"})` builds the document that
`bastion.runtime.control.update` merges over a container's current limits. The keys are runc's
flag names without the dashes ("memory_swap" for `--memory-swap`); a missing, None or empty
value is no flag, as in runc. Sizes take docker/go-units' RAMInBytes forms as runc does ("512m",
"1.5g", "64MiB"; binary multiples), and `-1` for unlimited; a 0 leaves a value unchanged.
Intel RDT schemas (`l3_cache_schema`, `mem_bw_schema`) are refused: bastion has no resctrl.
"""

from __future__ import annotations

from bastion.errors import BastionError, ExitCode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

_INT64 = (-(2**63), 2**63 - 1)
_UINT64 = (0, 2**64 - 1)
_UINT16 = (0, 2**16 - 1)
_BINARY = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}

# (flag key, section, field, parser) in runc's order; a parser returns the JSON value.
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

#: The keys `resources_from_flags` maps to a field, in runc's order.
RESOURCE_FLAGS = tuple(key for key, *_ in _FLAGS)
#: The keys that ask for Intel RDT, which bastion refuses.
INTEL_RDT_FLAGS = ("l3_cache_schema", "mem_bw_schema")


class InvalidFlagValueError(BastionError):
    """Raised when an update flag's value is not what its field takes: a size, an integer in the
    field's range (`bastion-runc update` reports it as a usage error, as runc does)."""

    reference = "invalid-flag-value"
    exit_code = ExitCode.USAGE


class IntelRdtUnsupported(BastionError):
    """Raised for `update --l3-cache-schema` or `--mem-bw-schema`: bastion has no Intel RDT."""

    reference = "intel-rdt-unsupported"


def option(key: str) -> str:
    """The command-line spelling of a flag key ("memory_swap" -> "--memory-swap")."""
    return "--" + key.replace("_", "-")


def refuse_intel_rdt(flags: Mapping[str, object]) -> None:
    """Raise `IntelRdtUnsupported` if `flags` sets an Intel RDT schema."""
    for key in INTEL_RDT_FLAGS:
        if flags.get(key):
            raise IntelRdtUnsupported(
                "Intel RDT (resctrl) is not supported by bastion-runc",
                where=option(key),
                hint=f"drop {option(key)}",
            )


def resources_from_flags(flags: Mapping[str, str | None]) -> dict[str, dict[str, int | str]]:
    """The LinuxResources document the flags ask for (flags not given are left out)."""
    refuse_intel_rdt(flags)
    doc: dict[str, dict[str, int | str]] = {}
    for key, section, field, kind in _FLAGS:
        text = flags.get(key)
        if not text:  # runc: an empty value is the same as no flag
            continue
        doc.setdefault(section, {})[field] = _convert(text, kind, option(key))
    return doc


def _convert(text: str, kind: str, flag: str) -> int | str:
    if kind == _TEXT:
        return text
    if kind == _SIZE:
        return -1 if text == "-1" else ram_in_bytes(text, flag)
    bounds = {_INT: _INT64, _UINT: _UINT64, _WEIGHT: _UINT16}[kind]
    if not (text.isdigit() or (kind == _INT and text[:1] in "+-" and text[1:].isdigit())):
        raise InvalidFlagValueError(f"invalid value for {flag}: {text!r} is not an integer")
    number = int(text)
    if not bounds[0] <= number <= bounds[1]:
        raise InvalidFlagValueError(
            f"invalid value for {flag}: {number} is outside {bounds[0]} to {bounds[1]}"
        )
    return number


def ram_in_bytes(text: str, flag: str = "size") -> int:
    """docker/go-units' RAMInBytes, which runc's update uses for sizes: a non-negative number,
    an optional space, then an optional unit: b, or k/m/g/t/p (times 1024^n) with an optional
    "b" or "ib", any case ("100", "512m", "1.5GiB", "64 KB"). Fractions are truncated."""
    sep = max(text.rfind(c) for c in "0123456789. ")
    if sep < 0:
        raise InvalidFlagValueError(f"invalid value for {flag}: invalid size {text!r}")
    number, suffix = (text[: sep + 1], text[sep + 1 :])
    if text[sep] == " ":
        number = text[:sep]
    try:
        if not number or number != number.strip() or "_" in number:
            raise ValueError(number)
        size = float(number)
    except ValueError:
        raise InvalidFlagValueError(f"invalid value for {flag}: invalid size {text!r}") from None
    if size < 0 or size != size:  # negative, or NaN
        raise InvalidFlagValueError(f"invalid value for {flag}: invalid size {text!r}")
    suffix = suffix.lower()
    if suffix and suffix != "b":
        multiplier = _BINARY.get(suffix[0])
        if multiplier is None or len(suffix) > 3 or suffix[1:] not in ("", "b", "ib"):
            raise InvalidFlagValueError(f"invalid value for {flag}: invalid suffix {suffix!r}")
        size *= multiplier
    if size >= 2**63:
        raise InvalidFlagValueError(f"invalid value for {flag}: {text!r} is too large")
    return int(size)
