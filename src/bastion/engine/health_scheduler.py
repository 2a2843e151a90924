"""The health check's scheduler of one container (engine/health.py): a script run by path,

    python3 -SE health_scheduler.py PIDFILE INIT_PID INTERVAL_NS -- CHECK_ARGV...

It forks away (the caller waits only for the fork; PIDFILE holds the scheduler's pid when it
returns), then every INTERVAL_NS runs CHECK_ARGV (`bastion healthcheck run ID`) and waits for
it, until the container's init INIT_PID ends: it waits on the init's pidfd, so it wakes and
ends at once with it (and kills a check still running). SIGTERM ends it the same way.

Only `os`, `select`, `signal` and `sys` (built in or frozen; no `site`): a process per container
that lives as long as it, so small (docs/engine.md gives its memory).
"""

import os
import select
import signal
import sys


class _Terminated(Exception):
    pass


def _terminated(_signum: int, _frame: object) -> None:
    raise _Terminated


def main(argv: list[str]) -> int:
    pidfile, init_pid, interval_ns = argv[1], int(argv[2]), int(argv[3])
    check = argv[argv.index("--") + 1 :]
    try:
        init = os.pidfd_open(init_pid)
    except ProcessLookupError:
        return 0  # it ended already: nothing to check
    child = os.fork()
    if child:
        temporary = f"{pidfile}.{os.getpid()}"
        with open(temporary, "w") as f:
            f.write(f"{child}\n")
        os.rename(temporary, pidfile)
        return 0
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    signal.signal(signal.SIGTERM, _terminated)
    running = 0
    try:
        waiting = select.poll()
        waiting.register(init, select.POLLIN)
        while not waiting.poll(max(interval_ns // 1_000_000, 1)):
            running = os.posix_spawn(check[0], check, dict(os.environ))
            pidfd = os.pidfd_open(running)
            both = select.poll()
            both.register(init, select.POLLIN)
            both.register(pidfd, select.POLLIN)
            ready = {fd for fd, _ in both.poll()}
            os.close(pidfd)
            if init in ready:
                return 0  # the container ended: `finally` ends the check
            os.waitpid(running, 0)
            running = 0
    except _Terminated:
        return 0
    finally:
        if running:
            try:
                os.kill(running, signal.SIGKILL)
                os.waitpid(running, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    os._exit(code)
