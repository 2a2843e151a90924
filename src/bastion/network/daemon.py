"""Detached helper processes of the host's network: the DNS responders and the [::1] proxies.

Each is a process of its own (`python -m MODULE ...`), nobody's child, that outlives the `bastion`
command which started it. It binds its sockets first, then forks away from the starter, writes a
pid file (pid and start time, docs/conventions.md §7, and the settings it runs with) and says
"ok PID" on a pipe the starter waits on; a process that cannot bind says why on that pipe and
exits. The starter side is `start`, `running` and `stop`; the process side is `detach`.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TextIO

from bastion import jsonio
from bastion._sys.proc import is_alive, start_time

_STOP_WAIT = 5.0  # seconds for SIGTERM before SIGKILL


class DaemonFailed(Exception):
    """A helper process did not start (`reason`) or did not exit; callers raise their own error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def start(module: str, args: list[str], *, pid_file: str, log_file: str) -> int:
    """Run `python -m module args --pid-file=... --ready-fd=N` detached; its pid once it serves.

    Raises DaemonFailed with what the process said (or its exit status) when it does not."""
    read_end, write_end = os.pipe()
    ready_fd = f"--ready-fd={write_end}"
    try:
        with open(log_file, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", module, *args, f"--pid-file={pid_file}", ready_fd],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                pass_fds=(write_end,),
                start_new_session=True,
                env=_child_env(),
            )
        os.close(write_end)
        write_end = -1
        with os.fdopen(read_end, "r") as ready:
            read_end = -1
            said = ready.read()  # EOF once the process serves, or every process of it exited
        proc.wait()
    finally:
        for fd in (read_end, write_end):
            if fd >= 0:
                os.close(fd)
    if not said.startswith("ok "):
        raise DaemonFailed(said.strip() or f"it exited with status {proc.returncode}")
    return int(said.split()[1])


def running(pid_file: str) -> dict[str, Any] | None:
    """The pid file's record if its process is alive and is the one that wrote it."""
    try:
        with open(pid_file) as f:
            record: dict[str, Any] = jsonio.loads(f.read())
    except (FileNotFoundError, ValueError):
        return None
    if not is_alive(int(record.get("pid", 0)), record.get("start")):
        return None
    return record


def stop(pid_file: str) -> None:
    """Stop the process of `pid_file` and wait until it is gone; quiet when none runs."""
    current = running(pid_file)
    if current is not None:
        _terminate(int(current["pid"]))
    try:
        os.unlink(pid_file)
    except FileNotFoundError:
        pass


def detach(
    ready: TextIO, pid_file: str, settings: dict[str, Any], serve: Callable[[], None]
) -> NoReturn:
    """In the helper process, its sockets bound: leave the starter, record the pid file, say
    "ok PID" on `ready`, then `serve` until SIGTERM or SIGINT; never returns."""
    if os.fork():  # the starter waits for this parent; the helper is nobody's child
        os._exit(0)
    pid = os.getpid()
    record = jsonio.dumps({"pid": pid, "start": start_time(pid), **settings})
    tmp = f"{pid_file}.tmp"
    with open(tmp, "w") as f:
        f.write(record)
    os.replace(tmp, pid_file)

    def stopped(signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stopped)
    signal.signal(signal.SIGINT, stopped)
    ready.write(f"ok {pid}\n")
    ready.close()
    try:
        serve()
    finally:
        try:  # unless a new process has already replaced it
            with open(pid_file) as f:
                if f.read() == record:
                    os.unlink(pid_file)
        except FileNotFoundError:
            pass
        os._exit(0)  # daemon threads may be mid-transfer: do not wait for them


def refuse(ready: TextIO, reason: str) -> NoReturn:
    """In the helper process: tell the starter why it cannot serve, and exit."""
    ready.write(reason + "\n")
    ready.close()
    sys.exit(1)


def _terminate(pid: int) -> None:
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                signal.pidfd_send_signal(pidfd, sig)
            except ProcessLookupError:
                return
            # A pidfd becomes readable when the process exits (pidfd_open(2)).
            if select.select([pidfd], [], [], _STOP_WAIT)[0]:
                return
        raise DaemonFailed(f"pid {pid} did not exit")
    finally:
        os.close(pidfd)


def _child_env() -> dict[str, str]:
    """The environment, with bastion's own source directory importable by the child."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env
