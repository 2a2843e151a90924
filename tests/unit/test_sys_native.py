"""bastion/_sys's raw syscalls: the C extension (`_native`) and its ctypes fallback agree.

`libc.syscall` goes through the extension scripts/setup builds, else through ctypes
(BASTION_TEST_NO_NATIVE=1 forces that); each test here runs the same calls through both, with
every kind of argument the wrappers pass (ints, negative and past 2**63, None, bytes, a bytearray
the kernel fills in), and clone3 both ways with the interpreter's fork hooks.
"""

from __future__ import annotations

import errno
import os
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bastion._sys import clone, libc
from bastion._sys.caps import capget

SRC = Path(__file__).resolve().parents[2] / "src"
SYS_GETPID = 39
AT_FDCWD = -100
O_PATH = 0o10000000

Raw = Callable[..., int]


def _native() -> Raw:
    if libc.native is None:
        pytest.fail("bastion/_sys/_native is not built (scripts/setup builds it)")
    raw: Raw = libc.native.syscall
    return raw


BACKENDS: dict[str, Callable[[], Raw]] = {
    "native": _native,
    "ctypes": lambda: libc._ctypes_syscall,
}


@pytest.fixture(params=list(BACKENDS))
def raw(request: pytest.FixtureRequest) -> Raw:
    return BACKENDS[request.param]()


def test_the_extension_is_built_and_used() -> None:
    if os.environ.get(libc.NO_NATIVE_ENV):
        assert libc.BACKEND == "ctypes"
    else:
        assert libc.native is not None and libc.BACKEND == "native"


def test_plain_call(raw: Raw) -> None:
    assert raw(SYS_GETPID) == os.getpid()


@pytest.mark.parametrize("fd", [-1, 2**64 - 1, 2**32 - 1])
def test_an_error_is_an_oserror_with_its_errno(raw: Raw, fd: int) -> None:
    # ioctl's fd is an int: each of these is -1 to the kernel (two's complement, then cut)
    with pytest.raises(OSError) as info:
        raw(libc.SYS_IOCTL, fd, 0x5401, None)  # TCGETS
    assert info.value.errno == errno.EBADF


def test_bytes_and_a_negative_int(raw: Raw, tmp_path: Path) -> None:
    how = struct.pack("=3Q", O_PATH | os.O_CLOEXEC, 0, 0)
    fd = raw(libc.SYS_OPENAT2, AT_FDCWD, os.fsencode(tmp_path), how, len(how))
    try:
        assert os.path.samestat(os.fstat(fd), os.stat(tmp_path))
    finally:
        os.close(fd)


def test_a_bytearray_is_filled_in(raw: Raw) -> None:
    header = bytearray(struct.pack("=Ii", 0x20080522, 0))
    data = bytearray(24)
    assert raw(libc.SYS_CAPGET, header, data) == 0
    effective = struct.unpack("=6I", data)
    with open("/proc/self/status") as f:
        status = dict(line.split(":\t", 1) for line in f if ":\t" in line)
    assert effective[0] | effective[3] << 32 == int(status["CapEff"], 16)


def test_the_wrapper_names_the_call_and_path(monkeypatch: pytest.MonkeyPatch, raw: Raw) -> None:
    monkeypatch.setattr(libc, "_raw_syscall", raw)
    with pytest.raises(FileNotFoundError) as info:
        libc.syscall(libc.SYS_UMOUNT2, b"/nonexistent-bst", 0, what="umount2", path="/x")
    assert info.value.filename == "/x"
    assert str(info.value.strerror).startswith("umount2: ")
    with open("/proc/self/status") as f:
        status = dict(line.split(":\t", 1) for line in f if ":\t" in line)
    assert capget()[0] == int(status["CapEff"], 16)


def test_the_extension_refuses_what_it_cannot_pass() -> None:
    with pytest.raises(TypeError):
        _native()(SYS_GETPID, "a str")
    with pytest.raises(TypeError):
        _native()(SYS_GETPID, 1, 2, 3, 4, 5, 6, 7)


@pytest.mark.parametrize("backend", ["native", "ctypes"])
def test_clone3_forks_with_the_fork_hooks(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    if backend == "ctypes":
        monkeypatch.setattr(clone, "native", None)
    else:
        _native()
    read_fd, write_fd = os.pipe()
    ran: list[str] = []
    os.register_at_fork(after_in_parent=lambda: ran.append("parent"))
    pid = clone.clone(0)
    if pid == 0:  # the child: its own pid, and the interpreter usable (the hooks ran)
        os.write(write_fd, str(os.getpid()).encode())
        os._exit(7)
    os.close(write_fd)
    child = os.read(read_fd, 64)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 7
    assert int(child) == pid
    assert ran[-1:] == ["parent"]


def test_clone3_refused_names_the_call() -> None:
    with pytest.raises(OSError) as info:
        clone.clone(0, cgroup_fd=2**31 - 1)  # CLONE_INTO_CGROUP with no such descriptor
    assert info.value.errno == errno.EBADF
    assert "clone3(0x200000000)" in str(info.value)


def _words_printed(code: str, no_native: str) -> list[str]:
    """What `code` prints, run by a fresh `python -S` with the native backend on ("") or off."""
    env = {**os.environ, libc.NO_NATIVE_ENV: no_native}
    done = subprocess.run(
        [sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.split()


@pytest.mark.parametrize("no_native", ["", "1"], ids=["native", "ctypes"])
def test_set_cmdline_both_ways(no_native: str) -> None:
    code = (
        f"import sys\nsys.path.insert(0, {str(SRC)!r})\n"
        "from bastion._sys.prctl import set_cmdline\n"
        "set_cmdline('bst-test-title')\n"
        "sys.stdout.write(open('/proc/self/cmdline', 'rb').read().hex())\n"
        "sys.stdout.write(' ' + str('ctypes' in sys.modules))\n"
    )
    out = _words_printed(code, no_native)
    assert bytes.fromhex(out[0]).split(b"\0")[0] == b"bst-test-title"
    assert out[1] == "False"  # /proc/self/mem: no ctypes either way


@pytest.mark.parametrize("no_native", ["", "1"], ids=["native", "ctypes"])
def test_setrlimit_through_prlimit64(no_native: str) -> None:
    code = (
        f"import sys, errno, resource\nsys.path.insert(0, {str(SRC)!r})\n"
        "from bastion._sys.rlimit import RLIM_INFINITY, setrlimit\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "setrlimit(resource.RLIMIT_NOFILE, 64, hard, 'RLIMIT_NOFILE')\n"
        "after = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "try:\n"
        "    setrlimit(resource.RLIMIT_NOFILE, 65, 64, 'RLIMIT_NOFILE')\n"
        "except OSError as exc:\n"
        "    err = (exc.errno, exc.strerror.split(':')[0])\n"
        "print(after == (64, hard), err == (errno.EINVAL, 'setrlimit(RLIMIT_NOFILE)'))\n"
    )
    out = _words_printed(code, no_native)
    assert out == ["True", "True"]
