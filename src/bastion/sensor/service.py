"""The sensor as a service: one `bastion sensor` per host, found through its directory.

`bastion sensor` holds an exclusive flock on `<dir>/sensor.lock` for its whole life, with its
pid in `sensor.pid`; once the probe is attached and events flow it writes `sensor.ready`. So:
- a second `bastion sensor` fails at once instead of doubling every alert;
- `running(dir)` is true exactly while a sensor lives (the kernel drops the lock with the
  process, however it dies: no stale pid file can fool it);
- `bastion run --watch` (`ensure_running`) starts one detached when none runs and waits for
  `sensor.ready`, so the container's first syscall is seen.
The default directory is /run/bastion-sensor (tmpfs: a reboot forgets it, as the probe).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import time
from collections.abc import Sequence

from bastion.errors import BastionError, ExitCode

DEFAULT_SERVICE_DIR = "/run/bastion-sensor"
LOCK, PID, READY, LOG = "sensor.lock", "sensor.pid", "sensor.ready", "sensor.log"


class SensorServiceError(BastionError):
    """The sensor service could not be started, or another one already runs."""

    reference = "sensor-service"
    exit_code = ExitCode.FAILURE


class ServiceLock:
    """The running service's hold on its directory (`acquire` on start, `ready` once events
    flow, `release` on exit)."""

    def __init__(self, directory: str = DEFAULT_SERVICE_DIR) -> None:
        self.directory = directory
        self._fd = -1

    def acquire(self) -> None:
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(self.directory, LOCK), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = read_pid(self.directory)
            raise SensorServiceError(
                f"a sensor already runs (pid {pid})",
                where=self.directory,
                hint="stop it first (bastion sensor --stop), or use another --service-dir",
            ) from None
        self._fd = fd
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.directory, READY))
        _write(os.path.join(self.directory, PID), f"{os.getpid()}\n")

    def ready(self) -> None:
        _write(os.path.join(self.directory, READY), f"{os.getpid()}\n")

    def release(self) -> None:
        if self._fd < 0:
            return
        for name in (READY, PID):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.directory, name))
        os.close(self._fd)  # drops the flock
        self._fd = -1


def _write(path: str, text: str) -> None:
    temporary = f"{path}.tmp"
    with open(temporary, "w") as f:
        f.write(text)
    os.replace(temporary, path)


def read_pid(directory: str) -> int | None:
    try:
        with open(os.path.join(directory, PID)) as f:
            return int(f.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def running(directory: str = DEFAULT_SERVICE_DIR) -> int | None:
    """The pid of the sensor serving `directory`, or None when none runs (its lock is free)."""
    try:
        fd = os.open(os.path.join(directory, LOCK), os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_pid(directory) or -1
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def is_ready(directory: str = DEFAULT_SERVICE_DIR) -> bool:
    pid = running(directory)
    return (
        pid is not None
        and read_pid(directory) == pid
        and os.path.exists(os.path.join(directory, READY))
    )


def ensure_running(
    argv: Sequence[str], directory: str = DEFAULT_SERVICE_DIR, *, timeout: float = 60
) -> int:
    """Start `argv` (a `bastion sensor` command line for `directory`) detached unless a sensor
    already serves `directory`, and wait until it is ready; its pid. Its output goes to
    `<dir>/sensor.log`."""
    pid = running(directory)
    if pid is None:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        with open(os.path.join(directory, LOG), "ab") as log:
            child = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # it outlives the `run` that started it
            )
        deadline = time.monotonic() + timeout
        while not is_ready(directory):
            if child.poll() is not None:
                raise SensorServiceError(
                    f"the sensor exited with status {child.returncode} before it was ready",
                    where=os.path.join(directory, LOG),
                    hint="see its log",
                )
            if time.monotonic() > deadline:
                raise SensorServiceError(
                    f"the sensor was not ready after {timeout:.0f} s",
                    where=os.path.join(directory, LOG),
                )
            time.sleep(0.05)
        return child.pid
    deadline = time.monotonic() + timeout
    while not is_ready(directory):  # one is starting: wait for it as well
        if time.monotonic() > deadline or running(directory) is None:
            raise SensorServiceError("the running sensor did not become ready", where=directory)
        time.sleep(0.05)
    return pid


def stop(directory: str = DEFAULT_SERVICE_DIR, *, timeout: float = 30) -> int | None:
    """SIGTERM the sensor serving `directory` and wait for it to end; its pid, or None."""
    import signal

    pid = running(directory)
    if pid is None or pid <= 0:
        return None
    from bastion._sys.proc import start_time
    from bastion._sys.signals import pidfd_send_signal

    ticks = start_time(pid)
    if ticks is None:
        return None
    pidfd_send_signal(pid, ticks, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while running(directory) is not None:
        if time.monotonic() > deadline:
            raise SensorServiceError(f"the sensor (pid {pid}) did not stop", where=directory)
        time.sleep(0.05)
    return pid
