"""Docker seccomp profiles → OCI linux.seccomp (moby's setupSeccomp), and the default profile."""

from __future__ import annotations

import copy
import os
from typing import Any

import pytest

from bastion import jsonio
from bastion.oci import decode_spec, validate_spec
from bastion.runtime import seccomp, seccomp_profile
from bastion.runtime.seccomp_profile import (
    DOCKER_DEFAULT_CAPABILITIES,
    SeccompProfileError,
    convert,
)
from bastion_testing import shared_data

DOCKER_CAPS = list(DOCKER_DEFAULT_CAPABILITIES)

KERNEL = (6, 18)


def rule(names: list[str], **extra: Any) -> dict[str, Any]:
    return {"names": names, "action": "SCMP_ACT_ALLOW", **extra}


def profile(*rules: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": list(rules), **top}


def names_of(converted: dict[str, Any] | None) -> list[str]:
    assert converted is not None
    return [n for r in converted.get("syscalls", []) for n in r["names"]]


def conv(doc: object, caps: list[str] | None = None, arch: str = "amd64", **kw: Any) -> Any:
    return convert(doc, capabilities=caps or [], arch=arch, kernel=kw.pop("kernel", KERNEL), **kw)


# --- rule filters --------------------------------------------------------------------------


def test_includes_caps_need_every_cap_in_the_bounding_set() -> None:
    doc = profile(
        rule(["mount"], includes={"caps": ["CAP_SYS_ADMIN"]}),
        rule(["both"], includes={"caps": ["CAP_SYS_ADMIN", "CAP_BPF"]}),
        rule(["getpid"]),
    )
    assert names_of(conv(doc)) == ["getpid"]
    assert names_of(conv(doc, ["CAP_SYS_ADMIN"])) == ["mount", "getpid"]
    assert names_of(conv(doc, ["CAP_SYS_ADMIN", "CAP_BPF"])) == ["mount", "both", "getpid"]


def test_excludes_caps_drop_the_rule_when_any_cap_is_held() -> None:
    doc = profile(rule(["clone"], excludes={"caps": ["CAP_SYS_ADMIN", "CAP_BPF"]}))
    assert names_of(conv(doc)) == ["clone"]
    assert names_of(conv(doc, ["CAP_BPF"])) == []


@pytest.mark.parametrize(
    ("arch", "expected"),
    [("amd64", ["arch_prctl", "modify_ldt"]), ("x86", ["modify_ldt"]), ("arm64", ["arm_only"])],
)
def test_arch_includes_and_excludes(arch: str, expected: list[str]) -> None:
    doc = profile(
        rule(["arch_prctl"], includes={"arches": ["amd64", "x32"]}),
        rule(["modify_ldt"], includes={"arches": ["amd64", "x32", "x86"]}),
        rule(["arm_only"], excludes={"arches": ["amd64", "x86"]}),
    )
    assert names_of(conv(doc, arch=arch)) == expected


@pytest.mark.parametrize(
    ("kernel", "expected"),
    [((4, 7), ["old_only"]), ((4, 8), ["ptrace"]), ((5, 0), ["ptrace"]), ((3, 99), ["old_only"])],
)
def test_min_kernel_compares_kernel_and_major(kernel: tuple[int, int], expected: list[str]) -> None:
    doc = profile(
        rule(["ptrace"], includes={"minKernel": "4.8"}),
        rule(["old_only"], excludes={"minKernel": "4.8"}),
    )
    assert names_of(conv(doc, kernel=kernel)) == expected


def test_empty_filters_keep_the_rule() -> None:
    doc = profile(rule(["a"], includes={}, excludes={"caps": [], "arches": [], "minKernel": ""}))
    assert names_of(conv(doc)) == ["a"]


# --- shape of the output -------------------------------------------------------------------


def test_arch_map_becomes_architectures_for_the_host() -> None:
    doc = profile(
        archMap=[
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
            {"architecture": "SCMP_ARCH_RISCV64", "subArchitectures": None},
        ]
    )
    assert conv(doc)["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "X32"]
    assert conv(doc, arch="arm64")["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert conv(doc, arch="riscv64")["architectures"] == ["SCMP_ARCH_RISCV64"]
    assert "architectures" not in conv(doc, arch="ppc64le")


def test_common_fields_pass_through_and_rule_fields_are_kept() -> None:
    args = [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]
    doc = profile(
        rule(["clone"], args=args, comment="no namespaces"),
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        {"name": "old_style", "action": "SCMP_ACT_ALLOW"},
        defaultErrnoRet=1,
        architectures=["SCMP_ARCH_X86_64"],
        flags=["SECCOMP_FILTER_FLAG_LOG"],
        listenerPath="/run/agent.sock",
        listenerMetadata="m",
    )
    assert conv(doc) == {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "listenerPath": "/run/agent.sock",
        "listenerMetadata": "m",
        "syscalls": [
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": args},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["old_style"], "action": "SCMP_ACT_ALLOW"},
        ],
    }


def test_a_profile_without_default_action_or_syscalls_disables_seccomp() -> None:
    assert conv({}) is None
    assert conv({"defaultAction": "", "syscalls": []}) is None
    assert conv({"defaultAction": "SCMP_ACT_ALLOW"}) == {"defaultAction": "SCMP_ACT_ALLOW"}


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ([], None),
        (profile(architectures=["A"], archMap=[{"architecture": "A"}]), "archMap"),
        (profile({"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}), "syscalls[0].name"),
        (profile(rule(["a"], includes={"minKernel": "4"})), "syscalls[0].includes.minKernel"),
        (profile(rule(["a"], excludes={"minKernel": "4.x"})), "syscalls[0].excludes.minKernel"),
        (profile(rule(["a"], includes={"minKernel": "0.0"})), "syscalls[0].includes.minKernel"),
        (profile(rule(["a"], includes={"minKernel": "256.1"})), "syscalls[0].includes.minKernel"),
        (profile(rule(["a"], includes={"minKernel": "+4.8"})), "syscalls[0].includes.minKernel"),
        (profile(rule(["a"], includes={"minKernel": 4.8})), "syscalls[0].includes.minKernel"),
        (profile(rule(["a"], includes={"caps": "CAP_X"})), "syscalls[0].includes.caps"),
        (profile({"names": ["a", 3], "action": "SCMP_ACT_ALLOW"}), "syscalls[0].names[1]"),
        (profile(rule(["a"]), {"names": ["b"]}), "syscalls[1].action"),
        (profile(rule(["a"], errnoRet=-1)), "syscalls[0].errnoRet"),
        (profile(rule(["a"], args=[{"index": 0, "value": 2**64}])), "syscalls[0].args[0].value"),
        (profile(rule(["a"], args=[{"index": 0, "value": 1}])), "syscalls[0].args[0].op"),
        (profile(rule(["a"], args={"index": 0})), "syscalls[0].args"),
        (profile(archMap=[{"architecture": 1}]), "archMap[0].architecture"),
        ({"defaultAction": 5}, "defaultAction"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {}}, "syscalls"),
    ],
)
def test_malformed_profiles_name_the_path(doc: object, where: str | None) -> None:
    with pytest.raises(SeccompProfileError) as info:
        conv(doc)
    assert info.value.where == where
    assert info.value.reference == "seccomp-profile-invalid"


def test_an_excluded_rule_is_still_type_checked() -> None:
    # Go's json.Unmarshal reads the whole profile before any rule is filtered.
    doc = profile(rule(["a"], includes={"caps": ["CAP_SYS_ADMIN"]}, errnoRet="x"))
    with pytest.raises(SeccompProfileError) as info:
        conv(doc)
    assert info.value.where == "syscalls[0].errnoRet"


def test_kernel_and_arch_of_the_host() -> None:
    kernel, major = seccomp_profile.kernel_version()
    assert os.uname().release.startswith(f"{kernel}.{major}")
    if os.uname().machine == "x86_64":
        assert seccomp_profile.host_arch() == "amd64"
    assert seccomp_profile.parse_kernel_version("3.12") == (3, 12)
    assert seccomp_profile.parse_kernel_version("") is None


# --- the default profile -------------------------------------------------------------------


def rules_by_name(converted: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in converted["syscalls"]:
        for n in r["names"]:
            out.setdefault(n, []).append(r)
    return out


def test_default_profile_for_docker_caps() -> None:
    converted = seccomp_profile.default_profile(DOCKER_CAPS)
    assert converted["defaultAction"] == "SCMP_ACT_ERRNO"
    assert converted["defaultErrnoRet"] == 1  # EPERM for everything not listed
    if os.uname().machine == "x86_64":
        assert converted["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    by_name = rules_by_name(converted)
    for allowed in ("read", "write", "execve", "mkdir", "mkdirat", "getppid", "capset", "chroot"):
        assert by_name[allowed][0]["action"] == "SCMP_ACT_ALLOW", allowed
    # Not listed, so the default ERRNO(EPERM) applies.
    for blocked in ("mount", "umount2", "unshare", "setns", "keyctl", "add_key", "bpf", "reboot"):
        assert blocked not in by_name, blocked
    # clone only without namespace flags; clone3 fails with ENOSYS so glibc falls back to clone.
    (clone,) = by_name["clone"]
    assert clone["args"] == [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]
    assert by_name["clone3"] == [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    if os.uname().machine == "x86_64":
        assert "arch_prctl" in by_name and "modify_ldt" in by_name
        assert "s390_runtime_instr" not in by_name


def test_default_profile_with_cap_sys_admin() -> None:
    by_name = rules_by_name(seccomp_profile.default_profile([*DOCKER_CAPS, "CAP_SYS_ADMIN"]))
    for allowed in ("mount", "umount2", "unshare", "setns", "sethostname", "clone3"):
        assert by_name[allowed][0]["action"] == "SCMP_ACT_ALLOW", allowed
    # the restricted clone and the clone3 ENOSYS rule are for containers without CAP_SYS_ADMIN
    assert all("args" not in r for r in by_name["clone"])
    assert all(r["action"] == "SCMP_ACT_ALLOW" for r in by_name["clone3"])
    assert "keyctl" not in by_name  # no capability opens the keyring calls


def test_default_profile_follows_the_kernel_and_other_caps() -> None:
    raw = seccomp_profile.docker_default()
    on_old_kernel = convert(raw, capabilities=DOCKER_CAPS, arch="amd64", kernel=(4, 4))
    assert "ptrace" not in names_of(on_old_kernel)  # includes minKernel 4.8
    with_ptrace = convert(
        raw,
        capabilities=[*DOCKER_CAPS, "CAP_SYS_PTRACE"],
        arch="amd64",
        kernel=(4, 4),
    )
    assert "ptrace" in names_of(with_ptrace)
    assert "ptrace" in names_of(convert(raw, capabilities=DOCKER_CAPS, arch="amd64", kernel=KERNEL))


def test_docker_default_is_a_fresh_copy() -> None:
    first = seccomp_profile.docker_default()
    pristine = copy.deepcopy(first)
    first["syscalls"].clear()
    assert seccomp_profile.docker_default() == pristine


def test_default_profile_decodes_validates_and_compiles() -> None:
    converted = seccomp_profile.default_profile(DOCKER_CAPS)
    config = {"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "linux": {"seccomp": converted}}
    spec = decode_spec(jsonio.dumps(config))
    validate_spec(spec)
    seccomp.check_seccomp(spec)
    assert spec.linux is not None and spec.linux.seccomp is not None
    flt = seccomp.compile_filter(spec.linux.seccomp)
    try:
        assert len(flt.rules) > 300
        # names newer than libseccomp 2.5.4 (e.g. mseal) are skipped, never an error
        assert all(name.isidentifier() for name in flt.skipped)
        assert flt.export_bpf()
    finally:
        flt.release()


def test_packaged_data_has_its_source_and_licence() -> None:
    data = os.path.dirname(seccomp_profile.DEFAULT_PROFILE_PATH)
    assert sorted(os.listdir(data)) == [
        "LICENSE.Apache-2.0",
        "docker-default-seccomp.SOURCE.txt",
        "docker-default-seccomp.json",
    ]
    with open(os.path.join(data, "docker-default-seccomp.SOURCE.txt")) as f:
        source = f.read()
    assert "github.com/moby/profiles" in source and "Apache" in source


@shared_data.needs(*shared_data.DOCKER_SECCOMP)
def test_packaged_profile_is_the_reference_copy_unmodified() -> None:
    with open(seccomp_profile.DEFAULT_PROFILE_PATH, "rb") as f:
        packaged = f.read()
    assert packaged == shared_data.shared_path(*shared_data.DOCKER_SECCOMP).read_bytes()
