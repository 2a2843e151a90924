"""Terminals: the console-socket protocol (what Podman's conmon and containerd's shim speak)
and a foreground run/exec proxying a pty, end to end."""

from __future__ import annotations

import _socket
import os
import pty
import select
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from bastion.runtime.console import receive_from_socket
from bastion_testing.plugin import BundleFactory
from bastion_testing.runc import Runc

pytestmark = pytest.mark.privileged


def _read_until(fd: int, needle: bytes, timeout: float = 10) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while needle not in out:
        left = deadline - time.monotonic()
        assert left > 0, f"never saw {needle!r}; got {out!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


@pytest.fixture
def console_socket(runtime_root: str) -> Any:
    path = os.path.join(runtime_root, "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    yield path, listener
    listener.close()


def _accept_master(listener: socket.socket) -> tuple[str, int]:
    listener.settimeout(30)
    conn, _ = listener.accept()
    with conn:
        raw = _socket.socket(fileno=os.dup(conn.fileno()))
        try:
            return receive_from_socket(raw)
        finally:
            raw.close()


def test_create_with_console_socket(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, console_socket: Any
) -> None:
    path, listener = console_socket
    edits: dict[str, Any] = {
        "process.terminal": True,
        "process.consoleSize": {"height": 33, "width": 101},
    }
    bundle = bundle_factory(args=["sh"], **edits)
    runc("create", "--console-socket", path, "-b", bundle, container_id, check=True)
    name, master = _accept_master(listener)
    try:
        assert name.startswith("/dev/pts/")
        runc("start", container_id, check=True)
        os.write(master, b"stty size; tty; echo bst-$((40+2))\n")
        out = _read_until(master, b"bst-42")
        assert b"33 101" in out
        assert name.encode() in out  # the shell's terminal is the one we were given
        os.write(master, b"exit\n")
        runc.wait_status(container_id, "stopped")
    finally:
        os.close(master)
    runc("delete", container_id, check=True)


def test_foreground_run_proxies_the_pty(
    bastion_runc: str, runtime_root: str, bundle_factory: BundleFactory, container_id: str
) -> None:
    edits: dict[str, Any] = {"process.terminal": True}
    bundle = bundle_factory(args=["sh"], **edits)
    pid, fd = pty.fork()
    if pid == 0:  # the child becomes bastion-runc on a terminal, as a person would run it
        os.execv(
            bastion_runc, [bastion_runc, "--root", runtime_root, "run", "-b", bundle, container_id]
        )
    try:
        _read_until(fd, b"/ # ")  # busybox's prompt: the shell owns the terminal now
        os.write(fd, b"echo bst-$((1+2)); tty\r")
        out = _read_until(fd, b"/dev/pts/")
        assert b"bst-3" in out
        os.write(fd, b"exit 5\r")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 5
    finally:
        os.close(fd)


def test_exec_with_tty(
    runc: Runc,
    bastion_runc: str,
    bundle_factory: BundleFactory,
    container_id: str,
    console_socket: Any,
) -> None:
    bundle = bundle_factory(args=["sleep", "300"])
    runc("run", "-d", "-b", bundle, container_id, check=True)
    path, listener = console_socket
    # detached exec hands the master to the console socket
    runc("exec", "-t", "-d", "--console-socket", path, container_id, "sh", check=True)
    name, master = _accept_master(listener)
    try:
        os.write(master, b"tty; echo bst-$((3*3))\n")
        out = _read_until(master, b"bst-9")
        assert name.encode() in out
        os.write(master, b"exit\n")
    finally:
        os.close(master)
    # a foreground exec -t on a terminal proxies it
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(
            bastion_runc,
            [
                bastion_runc,
                "--root",
                runc.root,
                "exec",
                "-t",
                container_id,
                "sh",
                "-c",
                "tty; echo bst-exec",
            ],
        )
    try:
        out = _read_until(fd, b"bst-exec")
        assert b"/dev/pts/" in out
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        os.close(fd)
    runc("delete", "--force", container_id, check=True)


def test_unreachable_console_socket_fails_cleanly(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, tmp_path: Path
) -> None:
    edits: dict[str, Any] = {"process.terminal": True}
    bundle = bundle_factory(args=["sh"], **edits)
    result = runc(
        "create", "--console-socket", str(tmp_path / "absent.sock"), "-b", bundle, container_id
    )
    assert result.returncode != 0
    assert "console-socket-unreachable" in result.stderr
    assert runc("list", "-q").stdout.split() == []
