"""Docker seccomp profiles → OCI `linux.seccomp`, and bastion's default profile (Docker's).

A Docker profile (moby/profiles `seccomp.Seccomp`) is an OCI `linux.seccomp` object plus:
`archMap` (an arch and its sub-arches), per-rule `name` (old spelling of `names`), `comment`, and
`includes` / `excludes` filters, each with `caps` (capability names), `arches` (Go-style arch names:
amd64, x86, x32, arm64, arm, s390x, ...) and `minKernel` ("<kernel>.<major>"). `convert` resolves
them for one container as moby's `setupSeccomp` does:

- no `defaultAction` and no `syscalls`: no seccomp at all (None);
- `architectures` and `archMap` together are an error; from `archMap`, the entry whose
  `architecture` is the host's becomes `architectures` (it plus its `subArchitectures`);
- a rule is dropped when: `excludes.arches` holds the host arch; any `excludes.caps` is in the
  container's bounding set; the kernel is at least `excludes.minKernel`; `includes.arches` does
  not hold the host arch; any `includes.caps` is missing from the bounding set; the kernel is
  older than `includes.minKernel`. Kernel versions compare on (kernel, major) only.

`default_profile(capabilities)` is the Docker default (shipped as package data in `data/`, with
its source and licence) converted for the host. Nothing on bastion-runc's start-up path imports
this module; the profile is read only when asked for.
"""

from __future__ import annotations

import os

from bastion import jsonio
from bastion.errors import BastionError, ExitCode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

__all__ = [
    "DEFAULT_PROFILE_PATH",
    "SeccompProfileError",
    "convert",
    "default_profile",
    "docker_default",
    "host_arch",
    "kernel_version",
    "parse_kernel_version",
]

DEFAULT_PROFILE_PATH = os.path.join(
    os.path.dirname(__file__), "data", "docker-default-seccomp.json"
)

# uname -m → moby's native arch name (goToNative[runtime.GOARCH]).
_MACHINE_TO_NATIVE = {
    "x86_64": "amd64",
    "i386": "x86",
    "i486": "x86",
    "i586": "x86",
    "i686": "x86",
    "aarch64": "arm64",
    "arm64": "arm64",
    "loongarch64": "loong64",
    "mips64": "mips64",
    "mips64el": "mipsel64",
    "mips": "mips",
    "mipsel": "mipsel",
    "ppc": "ppc",
    "ppc64": "ppc64",
    "ppc64le": "ppc64le",
    "riscv64": "riscv64",
    "s390": "s390",
    "s390x": "s390x",
}
# moby's native arch name → the OCI arch an archMap entry is keyed by (nativeToSeccomp).
_NATIVE_TO_OCI = {
    "x86": "SCMP_ARCH_X86",
    "amd64": "SCMP_ARCH_X86_64",
    "arm": "SCMP_ARCH_ARM",
    "arm64": "SCMP_ARCH_AARCH64",
    "loong64": "SCMP_ARCH_LOONGARCH64",
    "mips64": "SCMP_ARCH_MIPS64",
    "mips64n32": "SCMP_ARCH_MIPS64N32",
    "mipsel64": "SCMP_ARCH_MIPSEL64",
    "mipsel64n32": "SCMP_ARCH_MIPSEL64N32",
    "mipsel": "SCMP_ARCH_MIPSEL",
    "ppc": "SCMP_ARCH_PPC",
    "ppc64": "SCMP_ARCH_PPC64",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "riscv64": "SCMP_ARCH_RISCV64",
    "s390": "SCMP_ARCH_S390",
    "s390x": "SCMP_ARCH_S390X",
}
# The fields a Docker profile shares with OCI linux.seccomp, copied through unchanged.
_COMMON = ("defaultAction", "defaultErrnoRet", "architectures", "flags")
_COMMON_TAIL = ("listenerPath", "listenerMetadata")


class SeccompProfileError(BastionError):
    """Raised by `convert` when a Docker seccomp profile is malformed; `where` is its JSON path."""

    reference = "seccomp-profile-invalid"
    exit_code = ExitCode.INVALID_INPUT


# Docker's default capability set (moby oci/caps DefaultCapabilities): the bounding set its
# default seccomp profile is converted for.
DOCKER_DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)


def host_arch() -> str:
    """The host's arch as Docker profiles name it in `arches` ("amd64", "arm64", ...)."""
    machine = os.uname().machine
    if machine.startswith("arm") and machine != "arm64":
        return "arm"
    return _MACHINE_TO_NATIVE.get(machine, machine)


def kernel_version() -> tuple[int, int]:
    """(kernel, major) of the running kernel: 6.18 for "6.18.44-generic" (moby's parseRelease)."""
    release = os.uname().release
    parts = release.split(".", 2)
    try:
        return (int(_leading_digits(parts[0])), int(_leading_digits(parts[1])))
    except (IndexError, ValueError):
        raise SeccompProfileError(f"cannot parse the kernel release {release!r}") from None


def _leading_digits(text: str) -> str:
    end = 0
    while end < len(text) and text[end].isascii() and text[end].isdigit():
        end += 1
    return text[:end]


def parse_kernel_version(text: str, where: str = "minKernel") -> tuple[int, int] | None:
    """A profile's "<kernel>.<major>" (each 0-255, not 0.0); "" means none, as in moby."""
    if text == "":
        return None
    parts = text.split(".", 2)
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() and int(p) <= 255 for p in parts):
        raise SeccompProfileError(
            f"invalid kernel version {text!r}", where=where, hint='expected "<kernel>.<major>"'
        )
    version = (int(parts[0]), int(parts[1]))
    if version == (0, 0):
        raise SeccompProfileError("kernel version cannot be 0.0", where=where)
    return version


def docker_default() -> dict[str, Any]:
    """Docker's default profile as shipped (a fresh copy on every call)."""
    with open(DEFAULT_PROFILE_PATH, "rb") as f:
        profile: dict[str, Any] = jsonio.loads(f.read())
    return profile


def default_profile(capabilities: Iterable[str]) -> dict[str, Any]:
    """bastion's default `linux.seccomp`: Docker's default for this bounding set and host."""
    converted = convert(docker_default(), capabilities=capabilities)
    assert converted is not None  # the shipped profile has a default action
    return converted


def convert(
    profile: object,
    *,
    capabilities: Iterable[str],
    arch: str | None = None,
    kernel: tuple[int, int] | None = None,
) -> dict[str, Any] | None:
    """The OCI `linux.seccomp` object for a Docker `profile`, or None when it disables seccomp.

    `capabilities` is the container's bounding set (moby reads `process.capabilities.bounding`);
    `arch` (a Docker arch name) and `kernel` default to the host's.
    """
    doc = _object(profile, "")
    caps = frozenset(capabilities)
    syscalls = _array(doc.get("syscalls"), "syscalls")
    action = doc.get("defaultAction")
    if (action is None or action == "") and not syscalls:
        return None  # moby: "no default action specified, no syscalls listed"
    if _array(doc.get("architectures"), "architectures") and _array(doc.get("archMap"), "archMap"):
        raise SeccompProfileError(
            "both architectures and archMap are given",
            where="archMap",
            hint="use either architectures or archMap",
        )
    native = host_arch() if arch is None else arch
    out: dict[str, Any] = {}
    for key in _COMMON:
        if doc.get(key) is not None:
            out[key] = _common(doc[key], key)
    arches = _arch_map(doc.get("archMap"), native)
    if arches:
        out["architectures"] = arches
    for key in _COMMON_TAIL:
        if doc.get(key) is not None:
            out[key] = _string(doc[key], key)
    rules = []
    for i, raw in enumerate(syscalls):
        rule = _convert_rule(raw, f"syscalls[{i}]", caps, native, kernel)
        if rule is not None:
            rules.append(rule)
    if rules:
        out["syscalls"] = rules
    return out


def _arch_map(value: object, native: str) -> list[str]:
    oci = _NATIVE_TO_OCI.get(native)
    for i, raw in enumerate(_array(value, "archMap")):
        where = f"archMap[{i}]"
        entry = _object(raw, where)
        main = _string(entry.get("architecture"), f"{where}.architecture")
        subs = _strings(entry.get("subArchitectures"), f"{where}.subArchitectures")
        if oci is not None and main == oci:
            return [main, *subs]
    return []


def _convert_rule(
    raw: object,
    where: str,
    caps: frozenset[str],
    native: str,
    kernel: tuple[int, int] | None,
) -> dict[str, Any] | None:
    rule = _object(raw, where)
    names = _strings(rule.get("names"), f"{where}.names")
    name = rule.get("name")
    if name is not None and name != "":
        if names:
            raise SeccompProfileError(
                "both name and names are given", where=f"{where}.name", hint="use names"
            )
        names = [_string(name, f"{where}.name")]
    excludes = _filter(rule.get("excludes"), f"{where}.excludes")
    includes = _filter(rule.get("includes"), f"{where}.includes")
    # Every field is checked before the filters apply: Go's json.Unmarshal reads them all.
    out: dict[str, Any] = {
        "names": names,
        "action": _string(rule.get("action"), f"{where}.action"),
    }
    if rule.get("errnoRet") is not None:
        out["errnoRet"] = _uint(rule["errnoRet"], f"{where}.errnoRet", 32)
    args = _array(rule.get("args"), f"{where}.args")
    if args:
        out["args"] = [_arg(a, f"{where}.args[{k}]") for k, a in enumerate(args)]
    if rule.get("comment") is not None:
        _string(rule["comment"], f"{where}.comment")
    if excludes is not None:
        ex_caps, ex_arches, ex_kernel = excludes
        if native in ex_arches or not caps.isdisjoint(ex_caps):
            return None
        if ex_kernel is not None and _kernel(kernel) >= ex_kernel:
            return None
    if includes is not None:
        in_caps, in_arches, in_kernel = includes
        if in_arches and native not in in_arches:
            return None
        if not caps.issuperset(in_caps):
            return None
        if in_kernel is not None and _kernel(kernel) < in_kernel:
            return None
    return out


def _kernel(kernel: tuple[int, int] | None) -> tuple[int, int]:
    return kernel_version() if kernel is None else kernel


def _filter(
    value: object, where: str
) -> tuple[frozenset[str], frozenset[str], tuple[int, int] | None] | None:
    if value is None:
        return None
    d = _object(value, where)
    caps = frozenset(_strings(d.get("caps"), f"{where}.caps"))
    arches = frozenset(_strings(d.get("arches"), f"{where}.arches"))
    min_kernel = d.get("minKernel")
    version = None
    if min_kernel is not None:
        version = parse_kernel_version(
            _string(min_kernel, f"{where}.minKernel"), f"{where}.minKernel"
        )
    return caps, arches, version


def _arg(value: object, where: str) -> dict[str, Any]:
    d = _object(value, where)
    out: dict[str, Any] = {
        "index": _uint(d.get("index", 0), f"{where}.index", 32),
        "value": _uint(d.get("value", 0), f"{where}.value", 64),
    }
    two = _uint(d.get("valueTwo", 0), f"{where}.valueTwo", 64)
    if two:
        out["valueTwo"] = two
    out["op"] = _string(d.get("op"), f"{where}.op")
    return out


def _common(value: object, key: str) -> object:
    if key == "defaultErrnoRet":
        return _uint(value, key, 32)
    if key in ("architectures", "flags"):
        return _strings(value, key)
    return _string(value, key)


# --- shape checks: a profile is JSON from a file; every error names its path ---------------


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SeccompProfileError(f"expected an object, found {_kind(value)}", where=where or None)
    return value


def _array(value: object, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SeccompProfileError(f"expected an array, found {_kind(value)}", where=where)
    return value


def _string(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise SeccompProfileError(f"expected a string, found {_kind(value)}", where=where)
    return value


def _strings(value: object, where: str) -> list[str]:
    return [_string(item, f"{where}[{i}]") for i, item in enumerate(_array(value, where))]


def _uint(value: object, where: str, bits: int) -> int:
    if type(value) is not int or not 0 <= value < 2**bits:
        raise SeccompProfileError(
            f"expected an unsigned {bits}-bit integer, found {_kind(value)}", where=where
        )
    return value


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return f"the integer {value}"
    return {dict: "an object", list: "an array", str: "a string", float: "a number"}.get(
        type(value), type(value).__name__
    )
