"""linux.seccomp → libseccomp rules: rule planning and compiling (no root).

The seccomp object's mistakes are checked by oci's validator: test_seccomp_validation.py.

`plan_rules` is pure, so argument grouping, operators and action values are checked on its
output. A compiled filter is checked by its effect: the BPF program libseccomp generates is run
on test syscalls (`bastion.audit.cbpf`, held to the kernel's own verdicts by a test that
loads a filter in a child process), never by libseccomp's readable PFC text, whose wording
differs between libseccomp 2.5 and 2.6. libseccomp-2.6-only paths are exercised through their
version switch where the host has 2.5 (Debian 12: 2.5.4), and for real where it has 2.6.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from bastion import jsonio
from bastion._sys import seccomp as scmp
from bastion.audit import cbpf as bpf
from bastion.audit.cbpf import (
    AUDIT_ARCH_AARCH64,
    AUDIT_ARCH_I386,
    RET_ALLOW,
    RET_ERRNO,
    RET_KILL_PROCESS,
    RET_KILL_THREAD,
    RET_USER_NOTIF,
    X32_SYSCALL_BIT,
)
from bastion.oci import SpecError, decode_spec
from bastion.oci.spec import Linux, LinuxSeccomp, LinuxSeccompArg, LinuxSyscall, Spec
from bastion.oci.vocabulary import SECCOMP_ARCHITECTURES, SECCOMP_OPERATORS
from bastion.runtime import seccomp
from bastion.runtime.errors import RuntimeFailure

SRC = Path(__file__).resolve().parents[3] / "src"
ERRNO = 0x00050000
EPERM, EACCES, ENOSYS = 1, 13, 38
# Syscall numbers from the kernel's tables (arch/x86/entry/syscalls/syscall_{64,32}.tbl).
X64 = {"read": 0, "write": 1, "getpid": 39, "kill": 62, "mkdir": 83, "personality": 135}
X64 |= {"mkdirat": 258, "rmdir": 84}
I386 = {"getpid": 20, "mkdir": 39, "_llseek": 140}
# Arches libseccomp 2.5.4 (Debian 12) does not know; newer versions add some of them.
LIBSECCOMP_254_LACKS = {
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
}

BIG_ENDIAN = {
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
}


def sec(**fields: Any) -> LinuxSeccomp:
    fields.setdefault("default_action", "SCMP_ACT_ALLOW")
    return LinuxSeccomp(**fields)


def call(*names: str, action: str = "SCMP_ACT_ERRNO", **fields: Any) -> LinuxSyscall:
    return LinuxSyscall(names=names, action=action, **fields)


def arg(index: int, op: str, value: int, value_two: int = 0) -> LinuxSeccompArg:
    return LinuxSeccompArg(index=index, op=op, value=value, value_two=value_two)


def test_check_seccomp_takes_the_whole_spec() -> None:
    seccomp.check_seccomp(Spec(oci_version="1.0.2"))
    seccomp.check_seccomp(Spec(oci_version="1.0.2", linux=Linux()))
    bad = Spec(oci_version="1.0.2", linux=Linux(seccomp=sec(syscalls=(call("mkdri"),))))
    with pytest.raises(SpecError) as info:
        seccomp.check_seccomp(bad)
    assert info.value.reference == seccomp.UNKNOWN_SYSCALL


# --- planning: actions, errnos, operators, argument grouping -------------------------------


@pytest.mark.parametrize(
    ("action", "errno_ret", "value"),
    [
        ("SCMP_ACT_KILL", None, 0x00000000),
        ("SCMP_ACT_KILL_THREAD", None, 0x00000000),
        ("SCMP_ACT_KILL_PROCESS", None, 0x80000000),
        ("SCMP_ACT_TRAP", None, 0x00030000),
        ("SCMP_ACT_ERRNO", None, ERRNO | EPERM),  # runc: EPERM when errnoRet is absent
        ("SCMP_ACT_ERRNO", 38, ERRNO | 38),
        ("SCMP_ACT_ERRNO", 0, ERRNO),
        ("SCMP_ACT_ERRNO", 4094, ERRNO | 4094),
        ("SCMP_ACT_TRACE", 65535, 0x7FF0FFFF),
        ("SCMP_ACT_TRACE", None, 0x7FF00000 | EPERM),
        ("SCMP_ACT_TRACE", 7, 0x7FF00007),
        ("SCMP_ACT_LOG", None, 0x7FFC0000),
        ("SCMP_ACT_NOTIFY", None, 0x7FC00000),
    ],
)
def test_action_values(action: str, errno_ret: int | None, value: int) -> None:
    obj = sec(
        listener_path="/run/agent.sock",
        syscalls=(call("mkdir", action=action, errno_ret=errno_ret),),
    )
    (rule,) = seccomp.plan_rules(obj)
    assert rule.action == value


def test_default_errno_ret_and_rules_equal_to_the_default_are_dropped() -> None:
    obj = sec(
        default_action="SCMP_ACT_ERRNO",
        default_errno_ret=38,
        syscalls=(
            call("mkdir", errno_ret=38),  # same as the default: redundant (runc skips it)
            call("rmdir"),  # ERRNO(EPERM) differs from ERRNO(ENOSYS)
            call("getpid", action="SCMP_ACT_ALLOW"),
        ),
    )
    rules = seccomp.plan_rules(obj)
    assert [(r.name, r.action) for r in rules] == [
        ("rmdir", ERRNO | EPERM),
        ("getpid", 0x7FFF0000),
    ]


def test_each_name_gets_the_rule() -> None:
    rules = seccomp.plan_rules(sec(syscalls=(call("mkdir", "mkdirat", "rmdir", errno_ret=38),)))
    assert [r.name for r in rules] == ["mkdir", "mkdirat", "rmdir"]
    assert {r.where for r in rules} == {"linux.seccomp.syscalls[0]"}


@pytest.mark.parametrize(("op", "number"), sorted(SECCOMP_OPERATORS.items()))
def test_operators_map_to_libseccomp(op: str, number: int) -> None:
    (rule,) = seccomp.plan_rules(sec(syscalls=(call("kill", args=(arg(1, op, 9, 3),)),)))
    assert rule.conditions == ((1, number, 9, 3),)
    expected = {"NE": 1, "LT": 2, "LE": 3, "EQ": 4, "GE": 5, "GT": 6, "MASKED_EQ": 7}
    assert number == expected[op.removeprefix("SCMP_CMP_")]


def test_masked_eq_passes_value_as_the_mask_and_value_two_as_the_expected() -> None:
    # Docker's clone rule: (flags & CLONE_NEW*) == 0.
    masked = arg(0, "SCMP_CMP_MASKED_EQ", 2114060288, 0)
    (rule,) = seccomp.plan_rules(sec(syscalls=(call("clone", args=(masked,)),)))
    assert rule.conditions == ((0, 7, 2114060288, 0),)


def test_different_indexes_are_one_anded_rule() -> None:
    args = (arg(0, "SCMP_CMP_EQ", 1), arg(2, "SCMP_CMP_GT", 5), arg(1, "SCMP_CMP_NE", 0))
    (rule,) = seccomp.plan_rules(sec(syscalls=(call("socket", args=args),)))
    assert rule.conditions == ((0, 4, 1, 0), (2, 6, 5, 0), (1, 1, 0, 0))


def test_a_repeated_index_splits_every_condition_into_its_own_rule() -> None:
    # runc's matchCall (and crun): if any index repeats, each condition becomes a separate rule,
    # the others included, because libseccomp refuses two conditions on one argument (EINVAL).
    args = (arg(0, "SCMP_CMP_EQ", 1), arg(0, "SCMP_CMP_EQ", 2), arg(1, "SCMP_CMP_EQ", 3))
    rules = seccomp.plan_rules(sec(syscalls=(call("personality", "kill", args=args),)))
    assert [(r.name, r.conditions) for r in rules] == [
        ("personality", ((0, 4, 1, 0),)),
        ("personality", ((0, 4, 2, 0),)),
        ("personality", ((1, 4, 3, 0),)),
        ("kill", ((0, 4, 1, 0),)),
        ("kill", ((0, 4, 2, 0),)),
        ("kill", ((1, 4, 3, 0),)),
    ]


# --- compiling with libseccomp (nothing is loaded) -----------------------------------------


def compile_bpf(obj: LinuxSeccomp) -> bytes:
    flt = seccomp.compile_filter(obj)
    try:
        return flt.export_bpf()
    finally:
        flt.release()


def test_compiled_filter_returns_each_rule_s_action_and_the_default() -> None:
    obj = sec(
        default_action="SCMP_ACT_ERRNO",
        default_errno_ret=38,
        syscalls=(
            call("getpid", "read", action="SCMP_ACT_ALLOW"),
            call("mkdir", action="SCMP_ACT_KILL_PROCESS"),
            call("kill", action="SCMP_ACT_ALLOW", args=(arg(1, "SCMP_CMP_EQ", 0),)),
        ),
    )
    program = compile_bpf(obj)
    assert bpf.run(program, X64["getpid"]) == RET_ALLOW
    assert bpf.run(program, X64["read"], 3, 0, 10) == RET_ALLOW
    assert bpf.run(program, X64["mkdir"]) == RET_KILL_PROCESS
    assert bpf.run(program, X64["kill"], 1234, 0) == RET_ALLOW  # kill(pid, 0): the condition holds
    assert bpf.run(program, X64["kill"], 1234, 9) == RET_ERRNO | ENOSYS  # not: the default
    assert bpf.run(program, X64["rmdir"]) == RET_ERRNO | ENOSYS
    # An arch the filter does not have is killed (libseccomp's bad-arch action).
    assert bpf.run(program, 39, arch=AUDIT_ARCH_AARCH64) == RET_KILL_THREAD


@pytest.mark.parametrize(
    ("op", "value", "value_two", "allowed", "refused"),
    [
        ("SCMP_CMP_NE", 5, 0, [4, 6], [5]),
        ("SCMP_CMP_LT", 5, 0, [0, 4], [5, 6]),
        ("SCMP_CMP_LE", 5, 0, [4, 5], [6]),
        ("SCMP_CMP_EQ", 5, 0, [5], [4, 2**32 + 5]),  # all 64 bits are compared
        ("SCMP_CMP_GE", 5, 0, [5, 2**40], [4]),
        ("SCMP_CMP_GT", 5, 0, [6], [5]),
        # Docker's clone rule: (flags & CLONE_NEW*) == 0
        ("SCMP_CMP_MASKED_EQ", 0x7E020000, 0, [0x11, 0x00800000], [0x10000000, 0x20000]),
    ],
)
def test_argument_conditions_select_the_calls_they_name(
    op: str, value: int, value_two: int, allowed: list[int], refused: list[int]
) -> None:
    # The rule allows when its condition holds; everything else gets the default, EPERM.
    obj = sec(
        default_action="SCMP_ACT_ERRNO",
        syscalls=(
            call("personality", action="SCMP_ACT_ALLOW", args=(arg(0, op, value, value_two),)),
        ),
    )
    program = compile_bpf(obj)
    for a0 in allowed:
        assert bpf.run(program, X64["personality"], a0) == RET_ALLOW, (op, a0)
    for a0 in refused:
        assert bpf.run(program, X64["personality"], a0) == RET_ERRNO | EPERM, (op, a0)


def test_repeated_index_conditions_are_ored() -> None:
    # runc's fallback: personality(8) or personality(0xffffffff) is allowed, nothing else.
    args = (arg(0, "SCMP_CMP_EQ", 8), arg(0, "SCMP_CMP_EQ", 0xFFFFFFFF))
    obj = sec(
        default_action="SCMP_ACT_ERRNO",
        syscalls=(call("personality", action="SCMP_ACT_ALLOW", args=args),),
    )
    program = compile_bpf(obj)
    assert [bpf.run(program, X64["personality"], a) for a in (8, 0xFFFFFFFF, 0)] == [
        RET_ALLOW,
        RET_ALLOW,
        RET_ERRNO | EPERM,
    ]


@pytest.mark.parametrize("arch", sorted(SECCOMP_ARCHITECTURES))
def test_every_oci_arch_maps_to_a_libseccomp_token(arch: str) -> None:
    obj = sec(architectures=(arch,), syscalls=(call("mkdir"),))
    token = scmp.arch_resolve_name(seccomp._arch_name(arch))
    if not token:
        assert arch in LIBSECCOMP_254_LACKS, f"{arch}: libseccomp does not know its name"
        with pytest.raises(SpecError) as info:
            seccomp.compile_filter(obj)
        assert info.value.where == "linux.seccomp.architectures[0]"
        assert info.value.reference == seccomp.INVALID
        return
    if arch in BIG_ENDIAN and sys.byteorder == "little":
        # libseccomp refuses to mix byte orders in one filter (EDOM), as it does for runc.
        with pytest.raises(SpecError) as info:
            seccomp.compile_filter(obj)
        assert info.value.where == "linux.seccomp.architectures[0]"
        assert info.value.hint is not None and "endian" in info.value.hint
        return
    flt = seccomp.compile_filter(obj)
    try:
        assert scmp.arch_exist(flt.ctx, token)
        assert scmp.arch_exist(flt.ctx, scmp.arch_native())  # the native arch always stays
    finally:
        flt.release()


def test_x86_sub_arches_get_the_rules_of_their_own_syscall_tables() -> None:
    obj = sec(
        architectures=("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
        syscalls=(call("_llseek", "mkdir", errno_ret=38),),
    )
    program = compile_bpf(obj)
    enosys = RET_ERRNO | ENOSYS
    assert bpf.run(program, X64["mkdir"]) == enosys
    assert bpf.run(program, I386["mkdir"], arch=AUDIT_ARCH_I386) == enosys
    assert bpf.run(program, I386["_llseek"], arch=AUDIT_ARCH_I386) == enosys  # 32-bit x86 only
    assert bpf.run(program, X64["mkdir"] | X32_SYSCALL_BIT) == enosys  # x32
    assert bpf.run(program, I386["getpid"], arch=AUDIT_ARCH_I386) == RET_ALLOW
    # 140 is _llseek on i386 but getpriority on x86_64: the rule stays in its own table.
    assert bpf.run(program, I386["_llseek"]) == RET_ALLOW


def test_unknown_syscalls_are_skipped_and_reported() -> None:
    obj = sec(syscalls=(call("bst_not_a_syscall", "mkdir", "Mkdir"),))
    flt = seccomp.compile_filter(obj)
    try:
        assert flt.skipped == ("bst_not_a_syscall", "Mkdir")
        assert bpf.run(flt.export_bpf(), X64["mkdir"]) == RET_ERRNO | EPERM
    finally:
        flt.release()


def test_compiled_filter_attributes() -> None:
    obj = sec(
        flags=(
            "SECCOMP_FILTER_FLAG_TSYNC",
            "SECCOMP_FILTER_FLAG_LOG",
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        ),
        syscalls=(call("mkdir"),),
    )
    flt = seccomp.compile_filter(obj)
    try:
        attrs = {
            name: scmp.attr_get(flt.ctx, attr)
            for name, attr in [
                ("nnp", scmp.ATTR_CTL_NNP),
                ("tsync", scmp.ATTR_CTL_TSYNC),
                ("log", scmp.ATTR_CTL_LOG),
                ("ssb", scmp.ATTR_CTL_SSB),
                ("rawrc", scmp.ATTR_API_SYSRAWRC),
            ]
        }
        # no_new_privs is the init's business (process.noNewPrivileges), not libseccomp's.
        assert attrs == {"nnp": 0, "tsync": 1, "log": 1, "ssb": 1, "rawrc": 1}
    finally:
        flt.release()


def test_no_flags_means_no_flags() -> None:
    flt = seccomp.compile_filter(sec(syscalls=(call("mkdir"),)))
    try:
        assert scmp.attr_get(flt.ctx, scmp.ATTR_CTL_SSB) == 0
        assert scmp.attr_get(flt.ctx, scmp.ATTR_CTL_LOG) == 0
    finally:
        flt.release()


# --- libseccomp 2.6: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (CTL_WAITKILL) --------------------

WAIT_KILLABLE = sec(
    listener_path="/run/a.sock",
    flags=("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",),
    syscalls=(call("mkdirat", action="SCMP_ACT_NOTIFY"),),
)


def as_libseccomp(
    monkeypatch: pytest.MonkeyPatch, version: tuple[int, int, int], *, refuse: int = 0
) -> list[tuple[int, int]]:
    """Make `compile_filter` see libseccomp `version` (its version switch reads `version()`).

    The real library still answers every attribute it has; CTL_WAITKILL, which 2.5 lacks, is
    accepted and recorded as 2.6 would (passed to the real library when it is 2.6), or refused
    with errno `refuse` as a kernel without the flag makes 2.6 do. Returns what was set.
    """
    real_set = scmp.attr_set
    real_version = scmp.version()
    set_attrs: list[tuple[int, int]] = []

    def attr_set(ctx: int, attr: int, value: int, name: str = "") -> None:
        if attr != scmp.ATTR_CTL_WAITKILL or real_version >= (2, 6, 0):
            if attr == scmp.ATTR_CTL_WAITKILL and refuse:
                raise OSError(refuse, f"seccomp_attr_set({name}, {value})")
            real_set(ctx, attr, value, name)
        elif refuse:
            raise OSError(refuse, f"seccomp_attr_set({name}, {value})")
        set_attrs.append((attr, value))

    monkeypatch.setattr(scmp, "attr_set", attr_set)
    monkeypatch.setattr(scmp, "version", lambda: version)
    return set_attrs


def test_wait_killable_recv_is_refused_by_name_below_libseccomp_2_6(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_attrs = as_libseccomp(monkeypatch, (2, 5, 4))
    with pytest.raises(SpecError) as info:
        seccomp.compile_filter(WAIT_KILLABLE)
    assert (info.value.reference, info.value.where) == (
        seccomp.INVALID,
        "linux.seccomp.flags[0]",
    )
    assert "libseccomp 2.6 or later" in info.value.message
    assert info.value.hint == "this host has libseccomp 2.5.4"
    assert (scmp.ATTR_CTL_WAITKILL, 1) not in set_attrs  # refused before asking the library


def test_wait_killable_recv_sets_ctl_waitkill_on_libseccomp_2_6(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_attrs = as_libseccomp(monkeypatch, (2, 6, 0))
    flt = seccomp.compile_filter(WAIT_KILLABLE)
    try:
        assert flt.notify
        assert bpf.run(flt.export_bpf(), X64["mkdirat"]) == RET_USER_NOTIF
    finally:
        flt.release()
    assert set_attrs[-1] == (scmp.ATTR_CTL_WAITKILL, 1)
    assert (scmp.ATTR_CTL_NNP, 0) in set_attrs  # the real library took the others


def test_wait_killable_recv_refused_by_the_kernel_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    as_libseccomp(monkeypatch, (2, 6, 0), refuse=95)  # EOPNOTSUPP
    with pytest.raises(SpecError) as info:
        seccomp.compile_filter(WAIT_KILLABLE)
    assert info.value.where == "linux.seccomp.flags[0]"
    assert info.value.hint is not None and "kernel" in info.value.hint


@pytest.mark.skipif(scmp.version() < (2, 6, 0), reason="this host's libseccomp is older than 2.6")
def test_wait_killable_recv_with_a_real_libseccomp_2_6() -> None:
    flt = seccomp.compile_filter(WAIT_KILLABLE)
    try:
        assert scmp.attr_get(flt.ctx, scmp.ATTR_CTL_WAITKILL) == 1
    finally:
        flt.release()


def test_notify_below_api_level_6_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scmp, "api_level", lambda: 5)
    obj = sec(listener_path="/run/a.sock", syscalls=(call("mkdirat", action="SCMP_ACT_NOTIFY"),))
    with pytest.raises(SpecError) as info:
        seccomp.compile_filter(obj)
    assert (info.value.reference, info.value.where) == (seccomp.INVALID, "linux.seccomp")


def test_notify_rules_mark_the_filter() -> None:
    obj = sec(listener_path="/run/a.sock", syscalls=(call("mkdirat", action="SCMP_ACT_NOTIFY"),))
    flt = seccomp.compile_filter(obj)
    try:
        assert flt.notify
        assert bpf.run(flt.export_bpf(), X64["mkdirat"]) == RET_USER_NOTIF
        assert bpf.run(flt.export_bpf(), X64["mkdir"]) == RET_ALLOW
    finally:
        flt.release()
    plain = seccomp.compile_filter(sec(syscalls=(call("mkdir"),)))
    assert not plain.notify
    plain.release()


def test_released_filters_cannot_be_used() -> None:
    flt = seccomp.compile_filter(sec())
    assert flt.export_bpf()  # the default action alone still makes a program
    flt.release()
    flt.release()  # idempotent
    with pytest.raises(ValueError, match="released"):
        flt.export_bpf()


KERNEL_PROBES: list[tuple[str, tuple[int | str, ...], int]] = [
    # (syscall, args, errno the filter below makes the kernel return)
    ("getppid", (), ENOSYS),
    ("personality", (0xFFFFFFFF,), 22),  # the query form, refused by the argument rule
    ("personality", (0xFFFFFFFE,), 0),  # not the value the rule names: allowed
    ("kill", ("$pid", 0), EACCES),
    ("kill", ("$pid", 18), 0),  # SIGCONT to itself: allowed
    ("umask", (0o1777,), EPERM),  # GT 0o777
    ("umask", (0o022,), 0),
    ("getpid", (), 0),
]


def test_the_kernel_gives_what_the_bpf_interpreter_predicts() -> None:
    """A filter loaded for real (in a child, with no_new_privs: no privilege needed) makes each
    call fail with the errno the rule says, and the interpreter the other tests use agrees."""
    obj = sec(
        syscalls=(
            call("getppid", errno_ret=ENOSYS),
            call("personality", errno_ret=22, args=(arg(0, "SCMP_CMP_EQ", 0xFFFFFFFF),)),
            call("kill", errno_ret=EACCES, args=(arg(1, "SCMP_CMP_EQ", 0),)),
            call("umask", args=(arg(0, "SCMP_CMP_GT", 0o777),)),
        )
    )
    program = compile_bpf(obj)
    numbers = {"getppid": 110, "personality": 135, "kill": 62, "umask": 95, "getpid": 39}
    pid = os.getpid()
    predicted = []
    for name, args, _ in KERNEL_PROBES:
        values = [pid if a == "$pid" else int(a) for a in args]
        action = bpf.run(program, numbers[name], *values)
        predicted.append(0 if action == RET_ALLOW else action - RET_ERRNO)
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            KERNEL_CHILD,
            str(SRC),
            jsonio.dumps(obj_json(obj)),
            jsonio.dumps([[n, list(a)] for n, a, _ in KERNEL_PROBES]),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    observed = jsonio.loads(child.stdout.splitlines()[-1])
    expected = [errno for _, _, errno in KERNEL_PROBES]
    assert observed == expected
    assert predicted == expected


def obj_json(obj: LinuxSeccomp) -> dict[str, Any]:
    return {
        "defaultAction": obj.default_action,
        "syscalls": [
            {
                "names": list(s.names),
                "action": s.action,
                **({"errnoRet": s.errno_ret} if s.errno_ret is not None else {}),
                "args": [
                    {"index": c.index, "op": c.op, "value": c.value, "valueTwo": c.value_two}
                    for c in s.args
                ],
            }
            for s in obj.syscalls
        ],
    }


KERNEL_CHILD = """
import os, sys
sys.path.insert(0, sys.argv[1])
from bastion import jsonio
from bastion._sys import prctl, seccomp as scmp
from bastion.oci import decode_spec
from bastion.runtime import seccomp

config = {"ociVersion": "1.0.2", "linux": {"seccomp": jsonio.loads(sys.argv[2])}}
spec = decode_spec(jsonio.dumps(config))
flt = seccomp.compile_filter(spec.linux.seccomp)
prctl.set_no_new_privs()
seccomp.load(flt)
results = []
for name, args in jsonio.loads(sys.argv[3]):
    results.append(scmp.probe_syscall(name, *(os.getpid() if a == "$pid" else a for a in args)))
print(jsonio.dumps(results))
"""


def test_the_oci_decoder_output_compiles() -> None:
    config = {
        "ociVersion": "1.0.2",
        "linux": {
            "seccomp": {
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [
                    {
                        "names": ["personality"],
                        "action": "SCMP_ACT_ERRNO",
                        "errnoRet": 22,
                        "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}],
                    }
                ],
            }
        },
    }
    spec = decode_spec(jsonio.dumps(config))
    seccomp.check_seccomp(spec)
    assert spec.linux is not None and spec.linux.seccomp is not None
    program = compile_bpf(spec.linux.seccomp)
    assert bpf.run(program, X64["personality"], 8) == RET_ERRNO | 22
    assert bpf.run(program, X64["personality"], 0) == RET_ALLOW


# --- the _sys layer -------------------------------------------------------------------------


def test_sys_errors_are_oserrors_naming_the_call() -> None:
    ctx = scmp.init(0x7FFF0000)
    try:
        nr = scmp.syscall_resolve_name("mkdir")
        assert nr is not None
        with pytest.raises(OSError) as info:
            scmp.rule_add(ctx, 0x7FFF0000, nr, name="mkdir")  # the default action: EACCES
        assert info.value.errno == EACCES
        assert "seccomp_rule_add(mkdir" in str(info.value)
        with pytest.raises(OSError) as info:
            scmp.rule_add(ctx, ERRNO, nr, [(0, 4, 1, 0), (0, 4, 2, 0)], name="mkdir")
        assert info.value.errno == 22 and "arg0 op4" in str(info.value)
    finally:
        scmp.release(ctx)
    with pytest.raises(OSError) as info:
        scmp.init(0x12345678)
    assert info.value.errno == 22


def test_sys_name_resolution() -> None:
    assert scmp.syscall_resolve_name("mkdir") == 83  # x86_64
    assert scmp.syscall_resolve_name("bst_not_a_syscall") is None
    assert scmp.syscall_resolve_num(83) == "mkdir"
    assert scmp.syscall_resolve_num(99999) is None
    x86 = scmp.arch_resolve_name("x86")
    assert scmp.syscall_resolve_name("mkdir", x86) == 39
    assert scmp.arch_resolve_name("vax") == 0


# --- SCMP_ACT_NOTIFY: the hand-off to the agent ---------------------------------------------


def test_container_process_state_shape() -> None:
    state = {"ociVersion": "1.0.2", "id": "c1", "status": "creating", "pid": 42, "bundle": "/b"}
    doc = seccomp.container_process_state(
        state=state, pid=42, metadata="hello", oci_version="1.0.2"
    )
    assert doc == {
        "ociVersion": "1.0.2",
        "fds": ["seccompFd"],
        "pid": 42,
        "metadata": "hello",
        "state": state,
    }
    bare = seccomp.container_process_state(state=state, pid=42, metadata=None, oci_version="1.0.2")
    assert "metadata" not in bare  # omitempty, as runc's ContainerProcessState


def test_send_to_listener_passes_the_state_and_the_fd(tmp_path: Path) -> None:
    path = str(tmp_path / "agent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    got: dict[str, Any] = {}

    def agent() -> None:
        conn, _ = server.accept()
        with conn:
            msg, fds, _flags, _addr = socket.recv_fds(conn, 65536, 4)
            got["msg"], got["fds"] = msg, fds

    thread = threading.Thread(target=agent)
    thread.start()
    r, w = os.pipe()
    try:
        state = seccomp.container_process_state(
            state={"id": "c1", "status": "creating"}, pid=7, metadata=None, oci_version="1.0.2"
        )
        seccomp.send_to_listener(path, r, state)
        thread.join(10)
        assert jsonio.loads(got["msg"]) == state
        (fd,) = got["fds"]
        try:
            assert os.fstat(fd).st_ino == os.fstat(r).st_ino  # the same pipe
        finally:
            os.close(fd)
    finally:
        os.close(r)
        os.close(w)
        server.close()


def test_send_to_listener_without_agent(tmp_path: Path) -> None:
    r, w = os.pipe()
    try:
        with pytest.raises(RuntimeFailure) as info:
            seccomp.send_to_listener(str(tmp_path / "nobody.sock"), r, {})
    finally:
        os.close(r)
        os.close(w)
    assert info.value.reference == "seccomp-listener-failed"
    assert info.value.where == "linux.seccomp.listenerPath"


# --- import cost ---------------------------------------------------------------------------

HEAVY = {
    "typing",
    "dataclasses",
    "json",
    "re",
    "enum",
    "logging",
    "subprocess",
    "pathlib",
    "contextlib",
    "socket",
    "signal",
    "shutil",
    "tempfile",
    "importlib.resources",
    "bastion.runtime.seccomp_profile",
}
PROBE = """
import sys
sys.path.insert(0, {src!r})
import bastion.runtime.seccomp
with open("/proc/self/maps") as f:
    maps = f.read()
print("libseccomp" in maps)
print(",".join(sorted(sys.modules)))
"""


def test_importing_seccomp_costs_no_heavy_module_and_no_dlopen() -> None:
    result = subprocess.run(
        [sys.executable, "-S", "-c", PROBE.format(src=str(SRC))],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    dlopened, modules = result.stdout.splitlines()[-2:]
    heavy = HEAVY & set(modules.split(","))
    assert heavy == set()
    assert dlopened == "False"  # libseccomp is opened on first use, not on import
