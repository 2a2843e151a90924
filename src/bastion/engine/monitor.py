"""The monitor of a running container: conmon (the monitor Podman uses with any OCI runtime)
driving bastion-runc, so the CLI can exit while the container runs.

conmon double-forks: the process we start exits at once and its child stays, as the container's
subreaper, holding its stdio. It runs `bastion-runc create`, reports the container's pid (or the
runtime's error) as one JSON line on the pipe named by `_OCI_SYNCPIPE`, writes the container's
output to the log in Kubernetes' file format (`<RFC 3339 time> <stream> <F|P> <text>`), and
when the container ends writes its status to `<exit dir>/<id>` and exits. `start` is ours
(in-process, through the runtime library), as Podman runs `runtime start` itself.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess

from bastion import jsonio
from bastion._record import record
from bastion._sys import inotify
from bastion.engine.errors import CANNOT_INVOKE, NOT_FOUND, CommandError, EngineError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

CONMON = "/usr/bin/conmon"
#: A log follower's first wait, before it arms inotify on the log (`read_log`).
_FIRST_WAIT = 0.05


class MonitorPaths:
    """The files of one container's monitor, all in its directory."""

    __slots__ = ("directory",)

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MonitorPaths) and other.directory == self.directory

    def __hash__(self) -> int:
        return hash(self.directory)

    @property
    def log(self) -> str:
        return os.path.join(self.directory, "ctr.log")

    @property
    def exit_dir(self) -> str:
        return os.path.join(self.directory, "exit")

    @property
    def conmon_pid(self) -> str:
        return os.path.join(self.directory, "conmon.pid")

    @property
    def pid_file(self) -> str:
        return os.path.join(self.directory, "pidfile")

    @property
    def health_scheduler_pid(self) -> str:
        """The pid of the health check's scheduler beside the monitor (engine/health.py)."""
        return os.path.join(self.directory, "health-scheduler.pid")

    def exit_file(self, container_id: str) -> str:
        return os.path.join(self.exit_dir, container_id)


def start(
    paths: MonitorPaths,
    *,
    container_id: str,
    name: str,
    runtime: str,
    runtime_root: str,
    exit_command: list[str] | None = None,
    terminal: bool = False,
    stdin: bool = False,
    leave_stdin_open: bool = False,
    log_size_max: int | None = None,
    sync_log: bool = True,
) -> int:
    """Start conmon for the bundle in `paths.directory` and return the container's pid once
    the runtime has created it (before its first exec). conmon runs `exit_command` when the
    container has ended and its exit file is written. With `terminal` the runtime gets conmon's
    console socket (the config's process.terminal must say so too) and conmon holds the pty
    master; with `stdin` (and no terminal) the container's stdin is a pipe fed from the attach
    socket (engine/attach.py), closed when a client ends it unless `leave_stdin_open`. With
    `log_size_max` (bytes) conmon starts the log afresh whenever it would grow past that size
    (conmon's `--log-size-max`, as Podman's `--log-opt max-size`: the log never holds more).
    Without `sync_log` conmon does not fsync the log when the container ends (`--no-sync-log`:
    for a log removed with its container, the fsync only made the exit wait for the disk)."""
    os.makedirs(paths.exit_dir, exist_ok=True)
    argv = [
        CONMON,
        *("--api-version", "1", "-c", container_id, "-u", container_id, "-n", name),
        *("-r", runtime, "-b", paths.directory, "-p", paths.pid_file),
        *("--exit-dir", paths.exit_dir, "--conmon-pidfile", paths.conmon_pid),
        *("-l", f"k8s-file:{paths.log}", "--log-level", "error"),
        *("--socket-dir-path", paths.directory, "--full-attach"),
        *("--runtime-arg", "--root", "--runtime-arg", runtime_root),
    ]
    if terminal:
        argv.append("--terminal")
    elif stdin:
        argv.append("--stdin")
    if leave_stdin_open:
        argv.append("--leave-stdin-open")
    if log_size_max:
        argv += ["--log-size-max", str(log_size_max)]
    if not sync_log:
        argv.append("--no-sync-log")
    if exit_command:
        argv += ["--exit-command", exit_command[0]]
        for arg in exit_command[1:]:
            argv += ["--exit-command-arg", arg]
    read_end, write_end = os.pipe()
    try:
        env = {**os.environ, "_OCI_SYNCPIPE": str(write_end)}
        # its own session: the container outlives us and a Ctrl-C of the CLI
        first = subprocess.Popen(
            argv,
            env=env,
            pass_fds=(write_end,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            # conmon writes its "oom" marker into its working directory too: keep it ours
            cwd=paths.directory,
        )
        os.close(write_end)
        write_end = -1
        _, err = first.communicate()
        if first.returncode != 0:
            raise EngineError(f"conmon failed: {err.decode(errors='replace').strip()}")
        report = _read_report(read_end)
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    pid = int(report.get("data", -1))
    if pid <= 0:
        raise _create_error(str(report.get("message", "the runtime could not create it")))
    return pid


def _read_report(fd: int) -> dict[str, Any]:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    if not data:
        raise EngineError("conmon exited without reporting the container's creation")
    try:
        report: dict[str, Any] = jsonio.loads(data.splitlines()[0])
    except ValueError as exc:
        raise EngineError(f"conmon sent {data[:200]!r}") from exc
    return report


def _create_error(message: str) -> EngineError:
    """Docker's statuses for a command that cannot run, from the runtime's message (moby
    daemon/start.go matches the runtime's words the same way)."""
    text = message.strip().splitlines()[-1] if message.strip() else message
    if text.startswith("error[") and "]: " in text:
        text = text.split("]: ", 1)[1]  # the runtime's own rendering: ours adds the code
    lower = text.lower()
    if "no such file" in lower or "not found" in lower:
        return CommandError(text, exit_code=NOT_FOUND)
    if "permission denied" in lower or "is a directory" in lower or "exec format" in lower:
        return CommandError(text, exit_code=CANNOT_INVOKE)
    return EngineError(text)


def monitor_pid(paths: MonitorPaths) -> int | None:
    with contextlib.suppress(OSError, ValueError), open(paths.conmon_pid) as f:
        return int(f.read().strip())
    return None


def exit_status(paths: MonitorPaths, container_id: str) -> int | None:
    """The status conmon wrote when the container ended, or None while it runs."""
    with contextlib.suppress(OSError, ValueError), open(paths.exit_file(container_id)) as f:
        return int(f.read().strip() or "255")
    return None


def wait(paths: MonitorPaths, timeout: float | None = None) -> bool:
    """Wait until the monitor has exited (it writes the exit file first); False on timeout."""
    pid = monitor_pid(paths)
    if pid is None:
        return True
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


@record
class LogLine:
    """One line of a container's log: `stream` is "stdout" or "stderr"; `partial` when the
    container wrote no newline at its end."""

    time: str
    stream: str
    text: bytes
    partial: bool


def parse_line(raw: bytes) -> LogLine | None:
    parts = raw.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    text = parts[3] if len(parts) == 4 else b""
    return LogLine(
        time=parts[0].decode(), stream=parts[1].decode(), text=text, partial=parts[2] == b"P"
    )


def read_log(
    paths: MonitorPaths, *, tail: int | None = None, follow: bool = False
) -> Iterator[LogLine]:
    """The log's lines (the last `tail`); with `follow`, then the new ones until the monitor
    exits."""
    try:
        f = open(paths.log, "rb")  # noqa: SIM115 - held across the generator's yields
    except FileNotFoundError:
        return  # conmon makes the log before it reports the container created
    with f:
        lines = f.readlines()
        rest = b""
        if lines and not lines[-1].endswith(b"\n"):
            rest = lines.pop()
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        for raw in lines:
            line = parse_line(raw)
            if line is not None:
                yield line
        if not follow:
            return
        pid = monitor_pid(paths)
        pidfd = _pidfd(pid)
        # Woken by what happens, not by a timer: the monitor's exit (its pidfd) and, once the
        # container has outlived a first 50 ms wait, each write to the log (inotify, armed
        # before the next read, so nothing written after that read is missed). Not armed at
        # once: closing an inotify descriptor that has a watch waits for an SRCU grace period
        # (~10 ms here), more than a short container (`run --rm IMAGE true`) lives.
        changed = -1
        timeout: float | None = _FIRST_WAIT
        try:
            while True:
                chunk = f.read()
                if chunk:
                    rest += chunk
                    *complete, rest = rest.split(b"\n")
                    for raw in complete:
                        line = parse_line(raw)
                        if line is not None:
                            yield line
                    continue
                if pidfd < 0:
                    break
                ready, _, _ = select.select(
                    [pidfd] + ([changed] if changed >= 0 else []), [], [], timeout
                )
                if pidfd in ready:
                    os.close(pidfd)
                    pidfd = -1  # one more read for what it wrote before exiting
                elif changed >= 0 and changed in ready:
                    inotify.drain(changed)
                elif changed < 0:
                    try:
                        changed = inotify.open_watch(paths.log, inotify.IN_MODIFY)
                        timeout = None
                    except OSError:
                        timeout = _FIRST_WAIT  # inotify's limits reached: a 50 ms poll
        finally:
            if pidfd >= 0:
                os.close(pidfd)
            if changed >= 0:
                os.close(changed)


def _pidfd(pid: int | None) -> int:
    if pid is None:
        return -1
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return -1
