"""Health checks (Docker's HEALTHCHECK, Podman's `healthcheck run`): running a container's check
once, what it recorded, and the scheduler that runs it periodically.

There is no daemon to run checks, so a container with a check gets, when it starts, one small
process beside its monitor (`health_scheduler.py`: a script run by path with `python3 -SE`,
importing only `os`, `select` and `signal`). It sleeps on the container init's pidfd for an
interval, runs `bastion healthcheck run ID` (this module's `run_once`, through the engine's exec
path), and ends when the init ends: it cannot outlive the container. `stop`, `rm -f` and `system
prune` also end it (`end_scheduler`, through `Engine._release`) so none is left when they return.
A container without a check has no scheduler, no `health` row, and imports nothing of this.

Results go to the metadata's `health` table (Status, FailingStreak, the last 5 Log entries),
with Docker's rules (daemon/health.go): a success makes it healthy and clears the streak; a
failure (a non-zero status or a timeout) adds to the streak unless it is still "starting" inside
its start period; `Retries` failures in a row make it unhealthy. A change of status is logged as
the event `health_status: STATUS`.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time

from bastion import jsonio
from bastion.engine import health_config
from bastion.engine.errors import CommandError, ContainerStateError, EngineError
from bastion.engine.inspect import rfc3339

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bastion.engine.engine import Engine
    from bastion.engine.metadata import ContainerRecord, Metadata
    from bastion.engine.monitor import MonitorPaths

STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"
#: Docker's limits (daemon/health.go): Log entries kept, and bytes of a check's output kept
MAX_LOG_ENTRIES = 5
MAX_OUTPUT_BYTES = 4096
#: Docker's exit code for a check that could not run to its end (timeout, exec failure)
NO_EXIT_CODE = -1
SCHEDULER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "health_scheduler.py")


def check_of(record: ContainerRecord) -> dict[str, Any] | None:
    """The container's active check (None without one, or with `NONE`)."""
    check = record.config.get("healthcheck")
    return check if health_config.active(check) else None


def command(check: dict[str, Any]) -> tuple[str, ...]:
    """The argv a check runs in the container (CMD-SHELL through /bin/sh -c, as Docker)."""
    test = check["Test"]
    if test[0] == "CMD-SHELL":
        return ("/bin/sh", "-c", test[1])
    return tuple(test[1:])


# --- the results ------------------------------------------------------------------------------


def state(metadata: Metadata, container_id: str) -> dict[str, Any] | None:
    """Docker's `State.Health` as recorded (None before any start)."""
    rows = metadata.query(
        "SELECT status, failing_streak, log FROM health WHERE container_id = ?", (container_id,)
    )
    if not rows:
        return None
    status, streak, log = rows[0]
    return {"Status": status, "FailingStreak": streak, "Log": jsonio.loads(log)}


def statuses(metadata: Metadata) -> dict[str, str]:
    """Every recorded status by container id (one read, for `ps` and the API's list)."""
    return dict(metadata.query("SELECT container_id, status FROM health"))


def shown_status(record: ContainerRecord, recorded: str | None) -> str | None:
    """The status `inspect` and `ps` show: None without a check or before its first start (as
    dockerd, which sets it up at the start); `starting` before any result; `unhealthy` once the
    container no longer runs (nothing vouches for it then)."""
    if check_of(record) is None:
        return None
    if record.status != "running":
        return UNHEALTHY if recorded else None
    return recorded or STARTING


def document(metadata: Metadata, record: ContainerRecord) -> dict[str, Any] | None:
    """`State.Health` for `inspect`."""
    recorded = state(metadata, record.id)
    status = shown_status(record, recorded["Status"] if recorded else None)
    if status is None:
        return None
    return {
        "Status": status,
        "FailingStreak": recorded["FailingStreak"] if recorded else 0,
        "Log": recorded["Log"] if recorded else [],
    }


def reset(metadata: Metadata, container_id: str) -> None:
    """A (re)started container: `starting`, no failures counted; its earlier Log stays."""
    with metadata.write() as db:
        db.execute(
            "INSERT INTO health (container_id, status, failing_streak) VALUES (?, ?, 0)"
            " ON CONFLICT (container_id) DO UPDATE SET status = ?, failing_streak = 0",
            (container_id, STARTING, STARTING),
        )


def next_state(
    current: dict[str, Any], check: dict[str, Any], entry: dict[str, Any], since_start: float
) -> dict[str, Any]:
    """The state after one result `entry` (Docker's rules, see the module docstring);
    `since_start`: seconds from the container's start to the check's."""
    status, streak = current["Status"], current["FailingStreak"]
    if entry["ExitCode"] == 0:
        status, streak = HEALTHY, 0
    else:
        start_period = (check.get("StartPeriod") or 0) / 1e9
        if not (status == STARTING and since_start < start_period):
            streak += 1
            if streak >= (check.get("Retries") or health_config.DEFAULT_RETRIES):
                status = UNHEALTHY
    log = [*current["Log"], entry][-MAX_LOG_ENTRIES:]
    return {"Status": status, "FailingStreak": streak, "Log": log}


def _record(engine: Engine, record: ContainerRecord, entry: dict[str, Any]) -> str:
    check = check_of(record)
    assert check is not None
    since_start = entry["_start"] - (record.started or entry["_start"])
    del entry["_start"]
    with engine.metadata.write() as db:
        rows = db.execute(
            "SELECT status, failing_streak, log FROM health WHERE container_id = ?", (record.id,)
        ).fetchall()
        before = (
            {"Status": rows[0][0], "FailingStreak": rows[0][1], "Log": jsonio.loads(rows[0][2])}
            if rows
            else {"Status": STARTING, "FailingStreak": 0, "Log": []}
        )
        after = next_state(before, check, entry, since_start)
        db.execute(
            "INSERT OR REPLACE INTO health VALUES (?, ?, ?, ?)",
            (record.id, after["Status"], after["FailingStreak"], jsonio.dumps(after["Log"])),
        )
    if after["Status"] != before["Status"]:
        engine.event_log.container(record, f"health_status: {after['Status']}")
    return str(after["Status"])


# --- one check --------------------------------------------------------------------------------


def run_once(engine: Engine, record: ContainerRecord) -> tuple[str, int]:
    """Run the running container's check once, record the result; (the status now, the
    check's exit code)."""
    check = check_of(record)
    if check is None:
        raise ContainerStateError(
            f"container {record.name} has no health check",
            hint="give one at create (--health-cmd) or in the image (HEALTHCHECK)",
        )
    if record.status != "running":
        raise ContainerStateError(f"container {record.name} is not running")
    timeout = (check.get("Timeout") or health_config.DEFAULT_TIMEOUT_NS) / 1e9
    start = time.time()
    exit_code, output = _execute(engine, record, command(check), timeout)
    entry = {
        "Start": rfc3339(start),
        "End": rfc3339(time.time()),
        "ExitCode": exit_code,
        "Output": output,
        "_start": start,
    }
    return _record(engine, record, entry), exit_code


def _execute(
    engine: Engine, record: ContainerRecord, argv: tuple[str, ...], timeout: float
) -> tuple[int, str]:
    """The check's exit code and output (stdout and stderr together, Docker's first 4 KiB);
    killed after `timeout` seconds (Docker's -1 and message then)."""
    from bastion.engine.exec import ExecConfig

    reader, writer = os.pipe2(os.O_CLOEXEC)
    try:
        try:
            session = engine.exec(record.id, ExecConfig(command=argv, stdout=writer, stderr=writer))
        except CommandError as exc:
            return exc.exit_code, str(exc.message)
        finally:
            os.close(writer)
        output, complete = _read(reader, time.monotonic() + timeout)
        if not complete:
            with contextlib.suppress(ProcessLookupError):
                os.kill(session.pid, signal.SIGKILL)
            session.wait()
            return NO_EXIT_CODE, f"Health check exceeded timeout ({_seconds(timeout)})"
        return session.wait(), output
    finally:
        os.close(reader)


def _read(fd: int, deadline: float) -> tuple[str, bool]:
    """What `fd` gives until its end (True) or `deadline` (False), the first bytes kept."""
    kept = bytearray()
    truncated = False
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            return "", False
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        room = MAX_OUTPUT_BYTES - len(kept)
        truncated = truncated or len(chunk) > room
        kept += chunk[: max(room, 0)]
    text = kept.decode(errors="replace")
    return (text + "...") if truncated else text, True


def _seconds(value: float) -> str:
    return f"{value:g}s"


# --- the scheduler ----------------------------------------------------------------------------


def begin(engine: Engine, record: ContainerRecord, paths: MonitorPaths, pid: int) -> None:
    """A container with a check has started (its init is `pid`): status `starting`, and its
    scheduler started (the script forks away; its pid is in `paths.health_scheduler_pid` once
    this returns)."""
    import subprocess

    check = check_of(record)
    if check is None:
        return
    reset(engine.metadata, record.id)
    interval = check.get("Interval") or health_config.DEFAULT_INTERVAL_NS
    bastion = os.path.join(os.path.dirname(engine.runtime), "bastion")
    argv = [
        *(sys.executable, "-SE", SCHEDULER, paths.health_scheduler_pid, str(pid), str(interval)),
        *("--", bastion, "--root", engine.root, "--runtime-root", engine.runtime_root),
        *("--cgroup-parent", engine.cgroup_parent, "healthcheck", "run", record.id),
    ]
    started = subprocess.run(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    if started.returncode != 0:
        raise EngineError(
            f"cannot start the health check's scheduler of container {record.name}:"
            f" {started.stderr.decode(errors='replace').strip()[-500:]}",
            where=SCHEDULER,
            hint="run it without a health check (--no-healthcheck), and report this",
        )


def end_scheduler(paths: MonitorPaths) -> None:
    """End the container's scheduler if it runs (SIGTERM through a pidfd, then wait for it: it
    is gone when this returns). A pid reused by another process is left alone."""
    try:
        with open(paths.health_scheduler_pid) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return
    try:
        pidfd = os.pidfd_open(pid)
    except (ProcessLookupError, ValueError):
        pidfd = -1
    if pidfd >= 0:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                ours = paths.health_scheduler_pid.encode() in f.read()
            if ours:
                signal.pidfd_send_signal(pidfd, signal.SIGTERM)
                select.select([pidfd], [], [], 10)
        except (OSError, ProcessLookupError):
            pass  # it ended meanwhile
        finally:
            os.close(pidfd)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(paths.health_scheduler_pid)
