"""The compiled init in its caller's memory (bastion/_sys/_initexec.c, "Shared memory";
bastion/runtime/init/shared_memory.py): it runs there until it execs, reads only its own copy of
the plan, runs none of the caller's signal handlers, leaves the caller's command line alone, and
its stack goes once it has left. No privilege needed: the plans here create no namespace."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bastion._sys.libc import native
from bastion.runtime.init import shared_memory
from bastion.runtime.init.plan import Op, Plan

pytestmark = pytest.mark.skipif(
    not shared_memory.offered(native), reason="no shared init here (scripts/setup builds it)"
)

_KCMP = 312  # x86_64, where the shared init is offered
_KCMP_VM = 1
_CLONE_NEWNS, _CLONE_FS = 0x00020000, 0x00000200


def _same_memory(pid: int) -> bool:
    """kcmp(2): whether `pid` has our memory descriptor."""
    libc = ctypes.CDLL(None, use_errno=True)
    answer = libc.syscall(_KCMP, os.getpid(), pid, _KCMP_VM, 0, 0)
    if answer < 0:
        pytest.skip(f"kcmp: errno {ctypes.get_errno()}")
    return bool(answer == 0)


def _cmdline() -> bytes:
    with open("/proc/self/cmdline", "rb") as f:
        return f.read()


class Spawned:
    """A child of `spawn_init` that stops at its exec fifo (WAIT_START) until `go`."""

    def __init__(self, blob: bytes, fifo: tuple[int, int], *, shared: bool) -> None:
        assert native is not None
        self.parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.fifo_w = fifo[1]
        with child:
            self.pid, _, self.handle = native.spawn_init(blob, 0, -1, child.fileno(), shared)
        self.parent.settimeout(10)

    def ready(self) -> bytes:
        return self.parent.recv(4096)

    def go(self) -> None:
        os.write(self.fifo_w, b"x")

    def status(self, timeout: float = 10.0) -> int:
        """Its wait status; one that has not ended within `timeout` is killed (SIGKILL)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return status
            time.sleep(0.01)
        os.kill(self.pid, signal.SIGKILL)
        return os.waitpid(self.pid, 0)[1]


def _waiting_plan(fifo_r: int, script: str) -> Plan:
    plan = Plan()
    plan.add(Op.TITLE, "would-be title")
    plan.add(Op.FIND_EXEC, "sh", "", "/usr/bin:/bin")
    plan.add(Op.READY)
    plan.add(Op.WAIT_START, fifo_r)
    plan.add(Op.EXEC, 3, "sh", "-c", script, 0)
    return plan


@pytest.fixture
def fifo() -> Iterator[tuple[int, int]]:
    """The read end the plans wait on is made before the plan (its number goes in it)."""
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


def _spawn(plan: Plan | bytes, fifo: tuple[int, int], *, shared: bool) -> Spawned:
    return Spawned(plan.blob if isinstance(plan, Plan) else plan, fifo, shared=shared)


def test_a_shared_init_runs_in_our_memory_until_it_execs(fifo: tuple[int, int]) -> None:
    assert native is not None
    before = _cmdline()
    spawned = _spawn(_waiting_plan(fifo[0], "exit 7"), fifo, shared=True)
    assert spawned.ready() == b'{"type":"ready"}'
    assert _same_memory(spawned.pid)
    assert native.spawn_regions() >= 1
    assert native.init_left(spawned.handle, 0.0) is False
    # its TITLE step would have written over our command line: a shared init skips it
    assert _cmdline() == before
    spawned.go()
    assert native.init_left(spawned.handle, 10.0) is True
    assert os.waitstatus_to_exitcode(spawned.status()) == 7
    assert native.spawn_regions() == 0  # its stack is unmapped
    spawned.parent.close()


def test_a_private_init_has_memory_of_its_own(fifo: tuple[int, int]) -> None:
    spawned = _spawn(_waiting_plan(fifo[0], "exit 3"), fifo, shared=False)
    assert spawned.ready() == b'{"type":"ready"}'
    assert not _same_memory(spawned.pid)
    assert spawned.handle == 0
    spawned.go()
    assert os.waitstatus_to_exitcode(spawned.status()) == 3
    spawned.parent.close()


def test_the_shared_init_reads_its_own_copy_of_the_plan(fifo: tuple[int, int]) -> None:
    # The caller may free or reuse the plan's bytes as soon as spawn_init returns. Here they
    # are zeroed in place once the init waits (CPython's bytes keep their data after a header
    # of getsizeof(b"") - 1 bytes): the EXEC step, still to be read, is zeros in our memory.
    blob = _waiting_plan(fifo[0], "exit 5").blob
    spawned = _spawn(blob, fifo, shared=True)
    assert spawned.ready() == b'{"type":"ready"}'
    ctypes.memset(id(blob) + sys.getsizeof(b"") - 1, 0, len(blob))
    assert blob == bytes(len(blob))
    spawned.go()
    assert os.waitstatus_to_exitcode(spawned.status()) == 5
    spawned.parent.close()


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "private"])
def test_the_init_runs_none_of_our_signal_handlers(fifo: tuple[int, int], shared: bool) -> None:
    # Our Python handler, run in the child, would only set a flag: in a shared init, our flag
    # (we would see the signal as ours), and in any init the signal would be lost, where runc's
    # init dies of it. Every handler is SIG_DFL in the init.
    caught: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda sig, _frame: caught.append(sig))
    try:
        spawned = _spawn(_waiting_plan(fifo[0], "exit 0"), fifo, shared=shared)
        assert spawned.ready() == b'{"type":"ready"}'
        os.kill(spawned.pid, signal.SIGUSR1)
        status = spawned.status()
        time.sleep(0.05)  # a flag set in our memory would run our handler by now
        spawned.parent.close()
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGUSR1
    assert caught == []


def test_a_clone_the_kernel_refuses_leaves_no_stack_behind() -> None:
    assert native is not None
    before = native.spawn_regions()
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with parent, child, pytest.raises(OSError) as refused:
        native.spawn_init(Plan().blob, _CLONE_NEWNS | _CLONE_FS, -1, child.fileno(), True)
    assert refused.value.errno == 22  # EINVAL: a new mount namespace with a shared fs
    assert native.spawn_regions() == before


PUT_BACK = r"""
import sys
from bastion._sys import prctl
from bastion.runtime.init import shared_memory

def cmdline():
    with open("/proc/self/cmdline", "rb") as f:
        return f.read()

before = cmdline()
cmdline_area, dumpable = shared_memory.prepare("bastion-runc init")
titled = cmdline()
prctl.set_dumpable(False)  # as the shared init's PR_SET_DUMPABLE does to us
shared_memory.restore(cmdline_area, dumpable)
print(titled == b"bastion-runc init\0", cmdline() == before, prctl.get_dumpable(), dumpable)
"""


def test_the_callers_command_line_and_dumpability_are_put_back() -> None:
    done: Any = subprocess.run(
        [sys.executable, "-c", PUT_BACK, "--an", "argument"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True", "True"]
