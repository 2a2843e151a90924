"""linux.seccomp → libseccomp rules: rule planning and compiling (no root).

The seccomp object's mistakes are checked by oci's validator: test_seccomp_validation.py.

`plan_rules` is pure, so argument grouping, operators and action values are checked on its
output; `compile_filter` is checked through libseccomp's own readable export (pseudo filter code)
and attributes, which needs libseccomp but no privilege: nothing here loads a filter.
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
from bastion.oci import SpecError, decode_spec
from bastion.oci.spec import Linux, LinuxSeccomp, LinuxSeccompArg, LinuxSyscall, Spec
from bastion.oci.vocabulary import SECCOMP_ARCHITECTURES, SECCOMP_OPERATORS
from bastion.runtime import seccomp
from bastion.runtime.errors import RuntimeFailure

SRC = Path(__file__).resolve().parents[3] / "src"
ERRNO = 0x00050000
EPERM, EACCES, ENOSYS = 1, 13, 38
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


def compile_pfc(obj: LinuxSeccomp) -> str:
    flt = seccomp.compile_filter(obj)
    try:
        return flt.export_pfc()
    finally:
        flt.release()


def test_compiled_filter_has_the_rules_and_the_default() -> None:
    obj = sec(
        default_action="SCMP_ACT_ERRNO",
        default_errno_ret=38,
        syscalls=(
            call("getpid", "read", action="SCMP_ACT_ALLOW"),
            call("mkdir", action="SCMP_ACT_KILL_PROCESS"),
            call("kill", action="SCMP_ACT_ALLOW", args=(arg(1, "SCMP_CMP_EQ", 0),)),
        ),
    )
    pfc = compile_pfc(obj)
    assert "filter for arch x86_64" in pfc
    assert '"getpid"' in pfc and '"read"' in pfc and '"mkdir"' in pfc
    assert "action KILL_PROCESS;" in pfc
    assert "$a1" in pfc  # the kill condition on argument 1
    assert pfc.rstrip().count("action ERRNO(38);") >= 1  # the default action


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
    pfc = compile_pfc(obj)
    x86 = pfc[pfc.index("filter for arch x86 ") :]
    assert '"_llseek"' in x86  # only 32-bit x86 has _llseek
    assert "filter for arch x32" in pfc


def test_unknown_syscalls_are_skipped_and_reported() -> None:
    obj = sec(syscalls=(call("bst_not_a_syscall", "mkdir", "Mkdir"),))
    flt = seccomp.compile_filter(obj)
    try:
        assert flt.skipped == ("bst_not_a_syscall", "Mkdir")
        assert '"mkdir"' in flt.export_pfc()
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


@pytest.mark.skipif(scmp.version() >= (2, 6, 0), reason="libseccomp 2.6 has CTL_WAITKILL")
def test_wait_killable_recv_needs_libseccomp_2_6() -> None:
    obj = sec(flags=("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",))
    with pytest.raises(SpecError) as info:
        seccomp.compile_filter(obj)
    assert (info.value.reference, info.value.where) == (
        seccomp.INVALID,
        "linux.seccomp.flags[0]",
    )
    assert info.value.hint is not None and "2.6" in info.value.hint


def test_notify_rules_mark_the_filter() -> None:
    obj = sec(listener_path="/run/a.sock", syscalls=(call("mkdirat", action="SCMP_ACT_NOTIFY"),))
    flt = seccomp.compile_filter(obj)
    try:
        assert flt.notify
        assert "action 0x7fc00000;" in flt.export_pfc()  # libseccomp 2.5 has no name for it
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
    pfc = compile_pfc(spec.linux.seccomp)
    assert "action ERRNO(22);" in pfc


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
