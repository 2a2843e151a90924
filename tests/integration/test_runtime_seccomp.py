"""Seccomp filters in a real kernel: errnos, argument rules, Docker's default, user notification.

Every filter is loaded by a small child Python process (`CHILD` below), never by the test process
itself: a seccomp filter cannot be removed. The child compiles `linux.seccomp` with
`bastion.runtime.seccomp`, optionally drops to a container's capability set (before or after
loading, see `load`'s docstring), runs a list of probes and prints what each returned.
Containers with `linux.seccomp` are the lead's wiring in `create`; these tests hold the library.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bastion import jsonio
from bastion._sys import seccomp as scmp
from bastion.oci.vocabulary import CAPABILITIES
from bastion.runtime import seccomp_profile
from bastion.runtime.seccomp_profile import DOCKER_DEFAULT_CAPABILITIES

DOCKER_CAPS = list(DOCKER_DEFAULT_CAPABILITIES)
pytestmark = pytest.mark.privileged

SRC = str(Path(__file__).resolve().parents[2] / "src")
EPERM, EBADF, EACCES, EROFS, ENOSYS = 1, 9, 13, 30, 38
SIGCONT, SIGWINCH = 18, 28
CLONE_NEWUTS, CLONE_NEWUSER = 0x04000000, 0x10000000
KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING = 0, -4

CHILD = r"""
import os, subprocess, sys
sys.path.insert(0, sys.argv[1])
from bastion import jsonio
from bastion._sys import prctl, seccomp as scmp
from bastion.errors import BastionError
from bastion.oci import decode_spec
from bastion.oci.spec import LinuxCapabilities
from bastion.runtime import capabilities, seccomp

job = jsonio.loads(sys.argv[2])
out = {"load": "skipped", "skipped": [], "results": []}


def drop_caps():
    names = tuple(job["caps"])
    capabilities.drop_bounding(LinuxCapabilities(bounding=names))
    capabilities.apply_sets(LinuxCapabilities(bounding=names, effective=names, permitted=names))


def probe(kind, *args):
    if kind == "syscall":
        name, *rest = args
        return scmp.probe_syscall(name, *(os.getpid() if a == "$pid" else a for a in rest))
    if kind == "mkdir":
        try:
            os.mkdir(args[0], args[1])
        except OSError as exc:
            return exc.errno
        return 0
    if kind == "isdir":
        return os.path.isdir(args[0])
    if kind == "run":
        done = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
        return [done.returncode, done.stdout]
    if kind == "status":
        with open("/proc/self/status") as f:
            lines = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
        return lines[args[0]].strip()
    raise ValueError(kind)


if job.get("caps") is not None and job.get("drop_caps_before_load"):
    drop_caps()
if job.get("no_new_privs"):
    prctl.set_no_new_privs()
if job.get("seccomp") is not None:
    spec = decode_spec(jsonio.dumps({"ociVersion": "1.0.2", "linux": {"seccomp": job["seccomp"]}}))
    flt = seccomp.compile_filter(spec.linux.seccomp)
    out["skipped"] = list(flt.skipped)
    try:
        fd = seccomp.load(flt)
        out["load"] = "ok"
    except BastionError as exc:
        out["load"] = {"reference": exc.reference, "hint": exc.hint, "message": exc.message}
        fd = None
    if fd is not None:
        state = {"ociVersion": "1.0.2", "id": "bst-test", "status": "creating", "pid": os.getpid()}
        seccomp.send_to_listener(
            job["listener"],
            fd,
            seccomp.container_process_state(
                state=state, pid=os.getpid(), metadata="bst-meta", oci_version="1.0.2"
            ),
        )
        os.close(fd)
if job.get("caps") is not None and not job.get("drop_caps_before_load"):
    drop_caps()
for item in job.get("probes", []):
    out["results"].append(probe(*item))
print(jsonio.dumps(out))
"""


def run_child(
    seccomp: dict[str, Any] | None,
    probes: list[list[Any]],
    *,
    caps: list[str] | None = None,
    drop_caps_before_load: bool = False,
    no_new_privs: bool = False,
) -> dict[str, Any]:
    job = {
        "seccomp": seccomp,
        "probes": probes,
        "caps": caps,
        "drop_caps_before_load": drop_caps_before_load,
        "no_new_privs": no_new_privs,
    }
    done = subprocess.run(
        [sys.executable, "-S", "-c", CHILD, SRC, jsonio.dumps(job)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = jsonio.loads(done.stdout.splitlines()[-1])
    return result


def allow_but(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list(rules)}


# --- actions, errnos and arguments ----------------------------------------------------------


def test_errno_rules_return_the_configured_errno(tmp_path: Path) -> None:
    seccomp = allow_but(
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS},
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS},
        {"names": ["setns"], "action": "SCMP_ACT_ERRNO"},  # no errnoRet: EPERM
    )
    out = run_child(
        seccomp,
        [
            ["mkdir", str(tmp_path / "d"), 0o755],
            ["syscall", "getppid"],
            ["syscall", "getpid"],
            ["syscall", "setns", -1, 0],
            ["status", "Seccomp"],
        ],
    )
    assert out["load"] == "ok"
    assert out["results"] == [ENOSYS, ENOSYS, 0, EPERM, "2"]  # 2: SECCOMP_MODE_FILTER
    assert not (tmp_path / "d").exists()


def test_argument_rules_and_the_repeated_index_split() -> None:
    # kill(pid, 0) and kill(pid, SIGWINCH) are refused: one index twice → two ORed rules.
    kill_rule = {
        "names": ["kill"],
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": EACCES,
        "args": [
            {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": SIGWINCH, "op": "SCMP_CMP_EQ"},
        ],
    }
    out = run_child(
        allow_but(kill_rule),
        [
            ["syscall", "kill", "$pid", 0],
            ["syscall", "kill", "$pid", SIGWINCH],
            ["syscall", "kill", "$pid", SIGCONT],
        ],
    )
    assert out["results"] == [EACCES, EACCES, 0]


def test_masked_eq_and_anded_arguments(tmp_path: Path) -> None:
    # mkdir(path, mode) is refused when the mode gives nothing to group and others AND the
    # mode is above 0o500: both conditions of one rule must hold.
    rule = {
        "names": ["mkdir"],
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": EACCES,
        "args": [
            {"index": 1, "value": 0o077, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"},
            {"index": 0, "value": 0, "op": "SCMP_CMP_NE"},
        ],
    }
    out = run_child(
        allow_but(rule),
        [
            ["mkdir", str(tmp_path / "private"), 0o700],
            ["mkdir", str(tmp_path / "shared"), 0o755],
            ["isdir", str(tmp_path / "private")],
            ["isdir", str(tmp_path / "shared")],
        ],
    )
    assert out["results"] == [EACCES, 0, False, True]


def test_flags_log_and_trace_actions() -> None:
    seccomp = allow_but(
        {"names": ["getppid"], "action": "SCMP_ACT_LOG"},  # allowed, and logged
        {"names": ["getpgrp"], "action": "SCMP_ACT_TRACE", "errnoRet": 5},
    )
    seccomp["flags"] = [
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    ]
    out = run_child(seccomp, [["syscall", "getppid"], ["syscall", "getpgrp"]])
    assert out["load"] == "ok"
    # seccomp(2): with no tracer attached, SECCOMP_RET_TRACE makes the call fail with ENOSYS.
    assert out["results"] == [0, ENOSYS]


def test_kill_process_action_kills_the_child() -> None:
    seccomp = allow_but({"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"})
    job = {"seccomp": seccomp, "probes": [["syscall", "getppid"]]}
    done = subprocess.run(
        [sys.executable, "-S", "-c", CHILD, SRC, jsonio.dumps(job)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -31  # SIGSYS
    assert done.stdout == ""


# --- when the filter may be loaded (noNewPrivileges) ---------------------------------------


def test_without_no_new_privs_loading_needs_cap_sys_admin() -> None:
    seccomp = allow_but({"names": ["getppid"], "action": "SCMP_ACT_ERRNO"})
    late = run_child(seccomp, [], caps=DOCKER_CAPS, drop_caps_before_load=True)
    assert late["load"]["reference"] == "seccomp-load-failed"
    assert "CAP_SYS_ADMIN" in late["load"]["hint"]
    # runc's order: load first while privileged, then drop the capabilities.
    early = run_child(seccomp, [["syscall", "getppid"]], caps=DOCKER_CAPS)
    assert (early["load"], early["results"]) == ("ok", [EPERM])


def test_with_no_new_privs_an_unprivileged_process_loads_it() -> None:
    seccomp = allow_but({"names": ["getppid"], "action": "SCMP_ACT_ERRNO"})
    out = run_child(
        seccomp,
        [["syscall", "getppid"], ["status", "NoNewPrivs"]],
        caps=[],
        drop_caps_before_load=True,
        no_new_privs=True,
    )
    assert (out["load"], out["results"]) == ("ok", [EPERM, "1"])


# --- Docker's default profile ---------------------------------------------------------------

BLOCKED_PROBES: list[list[Any]] = [
    ["syscall", "mount", 0, 0, 0, 0, 0],
    ["syscall", "umount2", 0, 0],
    ["syscall", "unshare", CLONE_NEWUTS],
    ["syscall", "keyctl", KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0],
    ["syscall", "setns", -1, 0],
    ["syscall", "clone3", 0, 0],
]


def test_docker_default_blocks_privileged_calls_even_for_root() -> None:
    # The child keeps every capability, so EPERM here can only come from the filter.
    converted = seccomp_profile.default_profile(DOCKER_CAPS)
    unfiltered = run_child(None, BLOCKED_PROBES)["results"]
    assert EPERM not in unfiltered, unfiltered
    out = run_child(converted, BLOCKED_PROBES)
    assert out["load"] == "ok"
    # clone3 answers ENOSYS (errnoRet 38), so glibc falls back to clone
    assert out["results"] == [EPERM, EPERM, EPERM, EPERM, EPERM, ENOSYS]


def test_docker_default_with_a_container_capability_set(tmp_path: Path) -> None:
    converted = seccomp_profile.default_profile(DOCKER_CAPS)
    probes: list[list[Any]] = [
        ["syscall", "unshare", CLONE_NEWUSER],  # allowed to anyone by the kernel, not by Docker
        ["syscall", "keyctl", KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0],
        ["mkdir", str(tmp_path / "made"), 0o755],
        ["run", "/bin/ls", "/"],
        ["run", "/bin/sh", "-c", "echo ok; ls -d /proc/self/fd"],
        ["status", "CapEff"],
    ]
    unfiltered = run_child(None, probes[:2], caps=DOCKER_CAPS)["results"]
    if unfiltered[0] != 0:
        pytest.skip(f"this host refuses unprivileged user namespaces (errno {unfiltered[0]})")
    assert unfiltered == [0, 0]
    out = run_child(converted, probes, caps=DOCKER_CAPS)
    assert out["load"] == "ok"
    unshare, keyctl, made, ls, sh, cap_eff = out["results"]
    assert (unshare, keyctl, made) == (EPERM, EPERM, 0)
    assert ls[0] == 0 and "proc" in ls[1].split()
    assert sh == [0, "ok\n/proc/self/fd\n"]
    assert int(cap_eff, 16) == sum(1 << CAPABILITIES[name] for name in DOCKER_CAPS)
    assert (tmp_path / "made").is_dir()


def test_docker_default_with_cap_sys_admin_allows_namespaces() -> None:
    converted = seccomp_profile.default_profile([*DOCKER_CAPS, "CAP_SYS_ADMIN"])
    out = run_child(converted, [["syscall", "unshare", CLONE_NEWUTS], ["syscall", "setns", -1, 0]])
    assert out["results"] == [0, EBADF]


# --- SCMP_ACT_NOTIFY: the agent answers for the kernel -------------------------------------


def test_notify_the_agent_answers_with_an_errno_a_value_or_continue(tmp_path: Path) -> None:
    listener = str(tmp_path / "agent.sock")
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": listener,
        "listenerMetadata": "bst-meta",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
    }
    paths = [str(tmp_path / name) for name in ("refused", "faked", "real")]
    probes: list[list[Any]] = [["mkdir", p, 0o750] for p in paths]
    probes += [["isdir", p] for p in paths]
    job = {"seccomp": seccomp, "listener": listener, "probes": probes}
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(listener)
    server.listen(1)
    server.settimeout(30)
    child = subprocess.Popen(
        [sys.executable, "-S", "-c", CHILD, SRC, jsonio.dumps(job)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    notify_fd = -1
    try:
        conn, _ = server.accept()
        with conn:
            msg, fds, _flags, _addr = socket.recv_fds(conn, 65536, 1)
        (notify_fd,) = fds
        state = jsonio.loads(msg)
        assert state["fds"] == ["seccompFd"] and state["pid"] == child.pid
        assert state["metadata"] == "bst-meta" and state["state"]["status"] == "creating"
        mkdir_numbers = {scmp.syscall_resolve_name("mkdir"), scmp.syscall_resolve_name("mkdirat")}
        answers = [
            {"error": EROFS},
            {"val": 0},  # success without running it: nothing is made
            {"flags": scmp.USER_NOTIF_FLAG_CONTINUE},  # run it for real
        ]
        for answer in answers:
            assert select.select([notify_fd], [], [], 30)[0], "no notification came"
            notif = scmp.notify_receive(notify_fd)
            assert notif.pid == child.pid and notif.nr in mkdir_numbers
            mode = (
                notif.args[1] if notif.nr == scmp.syscall_resolve_name("mkdir") else notif.args[2]
            )
            assert mode == 0o750
            assert scmp.notify_id_valid(notify_fd, notif.id)
            scmp.notify_respond(notify_fd, notif.id, **answer)
        stdout, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if notify_fd >= 0:
            os.close(notify_fd)
        server.close()
    assert child.returncode == 0, stderr
    out = jsonio.loads(stdout.splitlines()[-1])
    assert out["results"] == [EROFS, 0, 0, False, False, True]
