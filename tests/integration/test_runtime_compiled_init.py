"""The compiled init (bastion/_sys/_initexec.c, planned by bastion/runtime/init/plan.py) makes
the same container as the Python init, fails with the same words, and runs no Python.

Each test runs one bundle both ways: bastion-runc as built (the compiled init wherever the plan
can have it) and with BASTION_TEST_NO_NATIVE=1 (the Python init, the reference). The compiled
init runs in `create`'s memory until it execs (init/shared_memory.py); each bundle also runs
with BASTION_TEST_INIT_SPAWN=private (the compiled init in memory of its own), which must give
the very same result."""

from __future__ import annotations

import json
import os
import re
from typing import TYPE_CHECKING, Any

import pytest

from bastion.runtime.create import FORCE_PRIVATE, SPAWN_ENV

if TYPE_CHECKING:
    from bastion_testing.plugin import BundleFactory
    from bastion_testing.runc import Runc

pytestmark = pytest.mark.privileged

PYTHON_INIT = {**os.environ, "BASTION_TEST_NO_NATIVE": "1"}
PRIVATE_MEMORY = {**os.environ, SPAWN_ENV: FORCE_PRIVATE}

# What the container sees of what its init set up; the numbers that differ between two runs of
# one config (mount ids, device numbers of fresh filesystems, times, pids) are cut out.
REPORT = r"""
grep -E '^(Cap|Sig|NoNewPrivs|Uid|Gid|Groups|Seccomp)' /proc/self/status
awk '{ sep = 0; for (i = 7; i <= NF; i++) if ($i == "-") sep = i; \
       print $4, $5, $6, $(sep + 1), $(sep + 2), $(sep + 3) }' /proc/self/mountinfo
ls -ln /dev /dev/pts | awk '{ print $1, $3, $4, $5, $6, $NF }'
ls -l /sys/fs/cgroup | awk '{ print $1, $NF }'
ulimit -a
umask
pwd
env | sort
id
hostname
cat /proc/sys/kernel/domainname /proc/sys/net/ipv4/ip_forward
ls -la /proc/self/fd | awk '{ print $9, $10, $11 }' | sed -e 's/:\[.*//' -e 's/#[0-9]*$/#/'
"""


def _both(runc: Runc, bundle: str, cid: str) -> tuple[Any, Any]:
    """`run` of `bundle` with the compiled init, then with the Python one; the compiled init in
    memory of its own must have done exactly what it did in `create`'s."""
    compiled = runc("run", "--bundle", bundle, f"{cid}-c")
    private = runc("run", "--bundle", bundle, f"{cid}-c", env=PRIVATE_MEMORY)
    python = runc("run", "--bundle", bundle, f"{cid}-p", env=PYTHON_INIT)
    for suffix in ("c", "p"):
        runc("delete", "--force", f"{cid}-{suffix}")
    assert (private.returncode, private.stdout) == (compiled.returncode, compiled.stdout)
    assert _fds(private.stderr) == _fds(compiled.stderr)
    return compiled, python


def _init_faults(runc: Runc, bundle: str, cid: str, env: dict[str, str] | None) -> int:
    """Minor page faults of a created container's init, waiting on its exec fifo."""
    runc("create", "--bundle", bundle, cid, env=env, check=True)
    try:
        pid = runc.state(cid)["pid"]
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[7])
    finally:
        runc("delete", "--force", cid)


def test_the_compiled_init_runs_no_python(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    # A forked interpreter copies a page on every object it touches (~600 faults by the exec
    # fifo); the compiled init touches its stack and a few globals.
    bundle = bundle_factory(args=["true"])
    compiled = _init_faults(runc, bundle, f"{container_id}-c", None)
    python = _init_faults(runc, bundle, f"{container_id}-p", PYTHON_INIT)
    assert compiled < 200 < python, (compiled, python)


def test_both_inits_make_the_same_container(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, tmp_path: Any
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "file").write_text("x")
    bundle = bundle_factory(
        args=["sh", "-c", REPORT],
        readonly=False,
        hostname="twins",
        domainname="example.test",
        process__cwd="/made/by/the/init",
        process__env=["PATH=/bin:/usr/bin", "A=1", "A=2", "B=x=y"],
        process__user={"uid": 1000, "gid": 1000, "additionalGids": [10, 20], "umask": 0o027},
        process__capabilities={
            "bounding": ["CAP_KILL", "CAP_NET_RAW", "CAP_CHOWN"],
            "effective": ["CAP_KILL"],
            "permitted": ["CAP_KILL", "CAP_NET_RAW"],
            "inheritable": ["CAP_NET_RAW"],
            "ambient": ["CAP_NET_RAW", "CAP_CHOWN"],
        },
        process__rlimits=[
            {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        ],
        process__noNewPrivileges=False,
        linux__sysctl={"net.ipv4.ip_forward": "1"},
        linux__devices=[
            {
                "path": "/dev/fuse",
                "type": "c",
                "major": 10,
                "minor": 229,
                "fileMode": 0o600,
                "uid": 1000,
                "gid": 1000,
            }
        ],
        linux__rootfsPropagation="rprivate",
        linux__maskedPaths=["/proc/kcore", "/proc/keys", "/does/not/exist"],
        linux__readonlyPaths=["/proc/sys", "/proc/bus"],
    )
    config_path = os.path.join(bundle, "config.json")
    with open(config_path) as f:
        config = json.load(f)
    config["mounts"] += [
        {
            "destination": "/mnt/shared",
            "type": "bind",
            "source": str(shared),
            "options": ["rbind", "ro", "nosuid"],
        },
        {
            "destination": "/mnt/file",
            "type": "bind",
            "source": str(shared / "file"),
            "options": ["bind"],
        },
        {
            "destination": "/mnt/tmp",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["size=1m", "mode=1770", "noexec"],
        },
    ]
    with open(config_path, "w") as f:
        json.dump(config, f)
    compiled, python = _both(runc, bundle, container_id)
    assert python.returncode == 0, python.stderr
    assert (compiled.returncode, compiled.stderr) == (python.returncode, python.stderr)
    assert compiled.stdout.splitlines() == python.stdout.splitlines()
    # and the report is of the config, not of two identical mistakes
    report = compiled.stdout
    assert "/made/by/the/init" in report.splitlines()
    assert "twins" in report.splitlines() and "example.test" in report.splitlines()
    with open(os.path.join(bundle, "rootfs", "etc", "passwd")) as f:
        home = next(line.split(":")[5] for line in f if line.split(":")[2] == "1000")
    assert "A=2" in report.splitlines() and f"HOME={home}" in report.splitlines()
    assert "uid=1000(bst) gid=1000(bst) groups=10,20" in report.splitlines()
    assert "0027" in report.splitlines()


@pytest.mark.parametrize(
    ("edits", "words"),
    [
        ({"process__args": ["no-such-program"]}, "executable file not found in $PATH"),
        ({"process__args": ["/bin/none"]}, "stat /bin/none: no such file or directory"),
        ({"process__args": ["/etc/passwd"]}, "permission denied"),
        ({"process__cwd": "/etc/passwd"}, "cannot"),
        ({"linux__sysctl": {"net.ipv4.no_such_knob": "1"}}, "cannot set sysctl"),
        (
            {"process__rlimits": [{"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 1024}]},
            "soft limit must not exceed",
        ),
        (
            {"mounts": [{"destination": "/x", "type": "bind", "source": "/no/such/dir"}]},
            "bind source",
        ),
        ({"mounts": [{"destination": "/x", "type": "nosuchfs", "source": "x"}]}, "cannot mount"),
    ],
)
def test_a_failing_step_is_worded_as_the_python_init_words_it(
    runc: Runc,
    bundle_factory: BundleFactory,
    container_id: str,
    edits: dict[str, Any],
    words: str,
) -> None:
    bundle = bundle_factory(args=["true"], **edits)
    compiled, python = _both(runc, bundle, container_id)
    assert python.returncode != 0 and words in python.stderr, python.stderr
    assert compiled.returncode == python.returncode
    # the same words, but for the number of the descriptor a mount's call names (each init
    # has its own descriptors open)
    assert _words(compiled.stderr, f"{container_id}-c") == _words(
        python.stderr, f"{container_id}-p"
    )


def _words(stderr: str, cid: str) -> str:
    return _fds(stderr.replace(cid, "ID"))


def _fds(stderr: str) -> str:
    """The descriptor a mount's call names differs from one init to the next."""
    return re.sub(r"/proc/self/fd/\d+", "/proc/self/fd/N", stderr)


@pytest.mark.parametrize("nnp", [True, False])
def test_both_inits_load_the_same_seccomp_filter(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, nnp: bool
) -> None:
    # loaded first without no_new_privs (it needs CAP_SYS_ADMIN then), last with it
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
    script = "grep -E '^(Seccomp|NoNewPrivs)' /proc/self/status; mkdir /tmp/d; echo mkdir=$?"
    bundle = bundle_factory(
        args=["sh", "-c", script],
        readonly=False,
        process__noNewPrivileges=nnp,
        linux__seccomp=seccomp,
    )
    compiled, python = _both(runc, bundle, container_id)
    assert python.returncode == 0, python.stderr
    assert compiled.stdout == python.stdout
    assert "mkdir=1" in compiled.stdout.split() and "Seccomp:\t2" in compiled.stdout
    # and it was the compiled init that loaded it
    assert _init_faults(runc, bundle, f"{container_id}-f", None) < 200


# create, start, wait and delete from one Python process, as `bastion-runc run` does: what the
# process and its init look like while the init waits on its exec fifo, and after it has exec'd
SHARED_PROBE = r"""
import ctypes, json, os, sys
from bastion._sys import prctl
from bastion.runtime.create import CreateOptions, create

libc = ctypes.CDLL(None, use_errno=True)

def same_memory(pid):
    # kcmp(2) KCMP_VM: 0 when the two processes have one memory descriptor
    answer = libc.syscall(312, os.getpid(), pid, 1, 0, 0)
    if answer < 0:
        sys.exit(f"kcmp: errno {ctypes.get_errno()}")
    return answer == 0

def cmdline(pid="self"):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read()

before = cmdline()
cid, bundle, root = sys.argv[1:4]
container = create(CreateOptions(id=cid, bundle=bundle, root=root, shared_memory_init=True))
created = {
    "same_memory": same_memory(container.pid),
    "ours": cmdline().decode(),
    "init": cmdline(container.pid).decode(),
    "dumpable": prctl.get_dumpable(),
}
container.start()
started = {
    "same_memory": same_memory(container.pid),
    "ours_restored": cmdline() == before,
    "dumpable": prctl.get_dumpable(),
}
status = container.wait()
container.delete(force=True)
print(json.dumps({"created": created, "started": started, "status": status}))
"""


@pytest.mark.parametrize("memory", ["shared", "private"])
def test_the_init_runs_in_creates_memory_until_it_execs(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, memory: str
) -> None:
    import subprocess
    import sys

    # still running when `start` has returned (a reaped init has no memory to compare)
    bundle = bundle_factory(args=["sh", "-c", "sleep 0.2"])
    env = os.environ if memory == "shared" else PRIVATE_MEMORY
    probe = subprocess.run(
        [sys.executable, "-c", SHARED_PROBE, container_id, bundle, runc.root],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout)
    assert seen["status"] == 0
    if memory == "shared":
        # one memory until the exec: the init shows the title we wrote over our command line,
        # and its PR_SET_DUMPABLE was ours too
        assert seen["created"] == {
            "same_memory": True,
            "ours": "bastion-runc init\0",
            "init": "bastion-runc init\0",
            "dumpable": False,
        }
    else:
        assert seen["created"]["same_memory"] is False
        assert seen["created"]["init"] == "bastion-runc init\0"
        assert seen["created"]["ours"] != "bastion-runc init\0"
        assert seen["created"]["dumpable"] is True
    # after `start`: the init has a memory of its own, and ours is as it was
    assert seen["started"] == {"same_memory": False, "ours_restored": True, "dumpable": True}
