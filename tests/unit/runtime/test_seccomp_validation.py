"""Each mistake in `linux.seccomp` gets one reference code, from one validator, before anything
is made.

The document's mistakes are checked by `bastion.oci.validate_spec` (actions, errnos, arches,
flags, operators, argument indexes, names that cannot be syscalls, the NOTIFY constraints);
the runtime adds only what needs this host's libseccomp (a rule none of whose names it knows).
Every case runs the real `bastion-runc create` on a bundle whose config.json holds the mistake:
it must fail with that reference and JSON path on its one error line and leave the state root
empty. Nothing is created, so no privilege is needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bastion.oci import SpecError, decode_spec, validate_spec
from bastion.runtime import seccomp

LAUNCHER = os.path.join(os.path.dirname(sys.executable), "bastion-runc")
INVALID, MISSING, UNKNOWN_SYSCALL = (
    "spec-invalid-value",
    "spec-missing-field",
    "seccomp-unknown-syscall",
)


def rule(*names: str, action: str = "SCMP_ACT_ERRNO", **fields: Any) -> dict[str, Any]:
    return {"names": list(names), "action": action, **fields}


def sec(**fields: Any) -> dict[str, Any]:
    return {"defaultAction": "SCMP_ACT_ALLOW", **fields}


ARG_EQ = {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}
# name -> (linux.seccomp, reference, where)
MISTAKES: dict[str, tuple[dict[str, Any], str, str]] = {
    "unknown default action": (
        sec(defaultAction="SCMP_ACT_NOPE"),
        INVALID,
        "linux.seccomp.defaultAction",
    ),
    "notify as the default": (
        sec(defaultAction="SCMP_ACT_NOTIFY", listenerPath="/run/agent.sock"),
        INVALID,
        "linux.seccomp.defaultAction",
    ),
    "errno on the kill default": (
        sec(defaultAction="SCMP_ACT_KILL", defaultErrnoRet=1),
        INVALID,
        "linux.seccomp.defaultErrnoRet",
    ),
    "default errno above MAX_ERRNO": (
        sec(defaultAction="SCMP_ACT_ERRNO", defaultErrnoRet=5000),
        INVALID,
        "linux.seccomp.defaultErrnoRet",
    ),
    "unknown architecture": (
        sec(architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"]),
        INVALID,
        "linux.seccomp.architectures[1]",
    ),
    "unknown flag": (
        sec(flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_NEW_LISTENER"]),
        INVALID,
        "linux.seccomp.flags[1]",
    ),
    "unknown rule action": (
        sec(syscalls=[rule("mkdir"), rule("rmdir", action="ALLOW")]),
        INVALID,
        "linux.seccomp.syscalls[1].action",
    ),
    "errno on an action without one": (
        sec(syscalls=[rule("mkdir", action="SCMP_ACT_LOG", errnoRet=1)]),
        INVALID,
        "linux.seccomp.syscalls[0].errnoRet",
    ),
    "errno 4095": (
        sec(syscalls=[rule("mkdir", errnoRet=4095)]),
        INVALID,
        "linux.seccomp.syscalls[0].errnoRet",
    ),
    "trace data above 16 bits": (
        sec(syscalls=[rule("mkdir", action="SCMP_ACT_TRACE", errnoRet=65536)]),
        INVALID,
        "linux.seccomp.syscalls[0].errnoRet",
    ),
    "no names": (sec(syscalls=[rule()]), MISSING, "linux.seccomp.syscalls[0].names"),
    "a name with a space": (
        sec(syscalls=[rule("mkdir", "mk dir")]),
        UNKNOWN_SYSCALL,
        "linux.seccomp.syscalls[0].names[1]",
    ),
    "an empty name": (
        sec(syscalls=[rule("")]),
        UNKNOWN_SYSCALL,
        "linux.seccomp.syscalls[0].names[0]",
    ),
    "a name starting with a digit": (
        sec(syscalls=[rule("getpid"), rule("ok", "9lives")]),
        UNKNOWN_SYSCALL,
        "linux.seccomp.syscalls[1].names[1]",
    ),
    "a non-ASCII name": (
        sec(syscalls=[rule("mkdïr")]),
        UNKNOWN_SYSCALL,
        "linux.seccomp.syscalls[0].names[0]",
    ),
    "no name libseccomp knows": (
        sec(syscalls=[rule("mkdri", "bst_not_a_syscall")]),
        UNKNOWN_SYSCALL,
        "linux.seccomp.syscalls[0].names[0]",
    ),
    "notify without a listener": (
        sec(syscalls=[rule("mkdirat", action="SCMP_ACT_NOTIFY")]),
        MISSING,
        "linux.seccomp.listenerPath",
    ),
    "notify on write": (
        sec(
            listenerPath="/run/agent.sock",
            syscalls=[rule("read", "write", action="SCMP_ACT_NOTIFY")],
        ),
        INVALID,
        "linux.seccomp.syscalls[0].names[1]",
    ),
    "argument index 6": (
        sec(syscalls=[rule("mkdir", args=[{**ARG_EQ, "index": 6}])]),
        INVALID,
        "linux.seccomp.syscalls[0].args[0].index",
    ),
    "unknown operator": (
        sec(syscalls=[rule("mkdir", args=[ARG_EQ, {**ARG_EQ, "index": 1, "op": "EQ"}])]),
        INVALID,
        "linux.seccomp.syscalls[0].args[1].op",
    ),
}


def bundle_with(tmp_path: Path, seccomp_obj: dict[str, Any]) -> str:
    bundle = tmp_path / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    config = {
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs"},
        "process": {"args": ["true"], "cwd": "/"},
        "linux": {"namespaces": [{"type": "mount"}], "seccomp": seccomp_obj},
    }
    (bundle / "config.json").write_text(json.dumps(config))
    return str(bundle)


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_bastion_runc_create_names_each_mistake_once(tmp_path: Path, case: str) -> None:
    seccomp_obj, reference, where = MISTAKES[case]
    root = tmp_path / "state"
    result = subprocess.run(
        [
            LAUNCHER,
            "--root",
            str(root),
            "create",
            "--bundle",
            bundle_with(tmp_path, seccomp_obj),
            "bst-test-seccomp",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 5, result
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error[{reference}]: {where}: "), line
    assert not root.exists() or os.listdir(root) == []


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_the_library_chain_gives_the_same_code(tmp_path: Path, case: str) -> None:
    """What `create` calls, in its order: oci.validate_spec, then the runtime's name check."""
    seccomp_obj, reference, where = MISTAKES[case]
    config = Path(bundle_with(tmp_path, seccomp_obj), "config.json").read_text()

    def create_checks() -> None:
        spec = decode_spec(config)
        validate_spec(spec, require_process=True)
        seccomp.check_seccomp(spec)

    with pytest.raises(SpecError) as info:
        create_checks()
    assert (info.value.reference, info.value.where) == (reference, where)


def test_only_libseccomp_knowledge_is_left_to_the_runtime(tmp_path: Path) -> None:
    # The oci validator passes what only libseccomp can judge: names that are identifiers.
    obj = sec(syscalls=[rule("bst_not_a_syscall", "_llseek", "Mkdir")])
    spec = decode_spec(Path(bundle_with(tmp_path, obj), "config.json").read_text())
    validate_spec(spec, require_process=True)
    seccomp.check_seccomp(spec)  # one of the names (_llseek) is a syscall on some arch
    # ... and the runtime keeps no validator of its own.
    assert not hasattr(seccomp, "validate")
    assert not hasattr(seccomp, "UNKNOWN_ACTION")
