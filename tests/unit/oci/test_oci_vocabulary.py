"""The vocabularies against independent sources: the kernel headers, `resource`, the schemas."""

from __future__ import annotations

import json
import resource
from pathlib import Path

import pytest

from bastion.oci import vocabulary as v
from bastion_testing import schemas

SCHEMA_DIR = schemas.SCHEMA_DIR
CAPABILITY_H = Path("/usr/include/linux/capability.h")


def test_capabilities_are_the_41_linux_capabilities_numbered_0_to_40() -> None:
    assert len(v.CAPABILITIES) == 41
    assert sorted(v.CAPABILITIES.values()) == list(range(41))
    assert v.CAPABILITIES["CAP_CHOWN"] == 0
    assert v.CAPABILITIES["CAP_SYS_ADMIN"] == 21
    assert v.CAPABILITIES["CAP_CHECKPOINT_RESTORE"] == 40


@pytest.mark.skipif(not CAPABILITY_H.is_file(), reason="no kernel headers (linux-libc-dev)")
def test_capabilities_match_the_kernel_header() -> None:
    defined: dict[str, int] = {}
    for line in CAPABILITY_H.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "#define" and parts[2].isdigit():
            defined[parts[1]] = int(parts[2])
    assert {name: defined[name] for name in v.CAPABILITIES if name in defined} == v.CAPABILITIES


def test_rlimits_match_the_resource_module() -> None:
    assert len(v.RLIMITS) == 16
    assert sorted(v.RLIMITS.values()) == list(range(16))
    # Python's `resource` lacks RLIMIT_LOCKS; every other name must agree with it.
    known = {name: getattr(resource, name) for name in v.RLIMITS if hasattr(resource, name)}
    assert len(known) >= 15
    assert known == {name: v.RLIMITS[name] for name in known}


def test_namespace_tables_agree() -> None:
    assert set(v.NAMESPACES) == set(v.NAMESPACE_PROC_NAMES)
    assert v.NAMESPACE_PROC_NAMES["network"] == "net"
    assert v.NAMESPACE_PROC_NAMES["mount"] == "mnt"
    flags = list(v.NAMESPACES.values())
    assert len(set(flags)) == len(flags)
    assert all(flag & (flag - 1) == 0 for flag in flags)  # one bit each


def test_mount_options_include_runc_s() -> None:
    expected = [
        "ro", "rw", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "sync", "async",
        "dirsync", "remount", "mand", "nomand", "atime", "noatime", "diratime", "nodiratime",
        "relatime", "norelatime", "strictatime", "nostrictatime", "bind", "rbind", "lazytime",
        "nolazytime",
    ]  # fmt: skip
    assert set(expected) <= set(v.MOUNT_OPTIONS)
    assert v.MOUNT_OPTIONS["ro"] == (v.MS_RDONLY, 0)
    assert v.MOUNT_OPTIONS["rw"] == (0, v.MS_RDONLY)
    assert v.MOUNT_OPTIONS["rbind"] == (v.MS_BIND | v.MS_REC, 0)
    for name, (set_flags, clear_flags) in v.MOUNT_OPTIONS.items():
        assert set_flags & clear_flags == 0, name
        assert not (set_flags or clear_flags) & (v.MS_SHARED | v.MS_PRIVATE | v.MS_SLAVE), name


def test_propagation_options() -> None:
    assert set(v.PROPAGATION_OPTIONS) == {
        "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"
    }  # fmt: skip
    assert v.PROPAGATION_OPTIONS["rslave"] == v.MS_SLAVE | v.MS_REC
    assert not set(v.PROPAGATION_OPTIONS) & set(v.MOUNT_OPTIONS)


def test_recursive_atime_options_clear_the_atime_field() -> None:
    # mount_setattr(2): an atime mode in attr_set needs MOUNT_ATTR__ATIME in attr_clr.
    for name in ("rnoatime", "rstrictatime", "rrelatime"):
        assert v.RECURSIVE_MOUNT_ATTRS[name][1] == v.MOUNT_ATTR__ATIME


def _enum(file: str, definition: str) -> set[str]:
    data = json.loads((SCHEMA_DIR / file).read_text())
    return set(data["definitions"][definition]["enum"])


@pytest.mark.skipif(not schemas.AVAILABLE, reason=schemas.MISSING_REASON)
def test_vocabularies_match_the_schema_enums() -> None:
    assert set(v.NAMESPACES) == _enum("defs-linux.json", "NamespaceType")
    assert set(v.SECCOMP_ACTIONS) == _enum("defs-linux.json", "SeccompAction")
    assert set(v.SECCOMP_OPERATORS) == _enum("defs-linux.json", "SeccompOperators")
    assert set(v.SECCOMP_FLAGS) == _enum("defs-linux.json", "SeccompFlag")
    assert set(v.SECCOMP_ARCHITECTURES) == _enum("defs-linux.json", "SeccompArch")
    assert set(v.PERSONALITY_DOMAINS) == _enum("defs-linux.json", "PersonalityDomain")
    assert set(v.SCHED_POLICIES) == _enum("defs-linux.json", "SchedulerPolicy")
    assert set(v.SCHED_FLAGS) == _enum("defs-linux.json", "SchedulerFlag")
    # runc accepts the recursive variants too (rslave ...), the schema lists the base four.
    assert _enum("defs-linux.json", "RootfsPropagation") <= set(v.PROPAGATION_OPTIONS)
    config = json.loads((SCHEMA_DIR / "config-schema.json").read_text())
    io_class = config["properties"]["process"]["properties"]["ioPriority"]["properties"]["class"]
    assert set(v.IOPRIO_CLASSES) == set(io_class["enum"])
