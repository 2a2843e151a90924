"""Start and stop a network's DNS responder (the server itself: `bastion.network._dns_server`).

One responder per user-defined network, bound to the network's gateway address, port 53, UDP and
TCP, as Docker's embedded DNS answers containers on user networks. It is a detached process
(`python -m bastion.network.dns`), nobody's child, that outlives the `bastion` command which
started it; its pid file in the network's directory says which process it is (pid and start time,
docs/conventions.md §7) and with which settings it runs, so `ensure_responder` is idempotent and
restarts it when the settings change. This module does not import dnslib: only the responder does.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from typing import Any

from bastion import jsonio
from bastion._sys.proc import is_alive
from bastion.errors import BastionError

PID_FILE = "dns.pid"
LOG_FILE = "dns.log"
_STOP_WAIT = 5.0  # seconds for SIGTERM before SIGKILL


class DnsResponderError(BastionError):
    """A network's DNS responder could not start (port 53 taken, no such address) or stop."""

    reference = "network-dns"


def ensure_responder(
    directory: str,
    *,
    listen: str,
    names_file: str,
    upstreams: tuple[str, ...],
    port: int = 53,
) -> int:
    """Start the responder for one network unless it already runs with these settings; its pid.

    `names_file` holds lines "IP NAME [ALIAS...]" (re-read when it changes); `upstreams` are
    resolver addresses ("IP", "IP:PORT" or "[IPv6]:PORT") other names are forwarded to; with none,
    unknown names get NXDOMAIN. Returns once the responder listens; DnsResponderError if it cannot.
    """
    wanted = {
        "listen": listen,
        "port": port,
        "names": os.path.abspath(names_file),
        "upstreams": list(upstreams),
    }
    current = _running(directory)
    if current is not None:
        if all(current.get(k) == v for k, v in wanted.items()):
            return int(current["pid"])
        stop_responder(directory)
    os.makedirs(directory, exist_ok=True)
    args = [
        sys.executable,
        "-m",
        "bastion.network.dns",
        f"--listen={listen}",
        f"--port={port}",
        f"--names={wanted['names']}",
        f"--pid-file={os.path.join(directory, PID_FILE)}",
        *(f"--upstream={u}" for u in upstreams),
    ]
    log_path = os.path.join(directory, LOG_FILE)
    read_end, write_end = os.pipe()
    try:
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [*args, f"--ready-fd={write_end}"],
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
            said = ready.read()  # EOF once the responder serves, or every process of it exited
        proc.wait()
    finally:
        for fd in (read_end, write_end):
            if fd >= 0:
                os.close(fd)
    if not said.startswith("ok "):
        reason = said.strip() or f"it exited with status {proc.returncode}"
        raise DnsResponderError(
            f"the DNS responder did not start: {reason}",
            where=f"{listen}:{port}",
            hint=f"see {log_path}; the address must be on the host and port {port} free on it",
        )
    return int(said.split()[1])


def stop_responder(directory: str) -> None:
    """Stop the responder of `directory` and wait until it is gone; quiet when none runs."""
    pid_path = os.path.join(directory, PID_FILE)
    current = _running(directory)
    if current is not None:
        _terminate(int(current["pid"]))
    try:
        os.unlink(pid_path)
    except FileNotFoundError:
        pass


def _running(directory: str) -> dict[str, Any] | None:
    """The pid file's record if its process is alive and is the one that wrote it."""
    try:
        with open(os.path.join(directory, PID_FILE)) as f:
            record: dict[str, Any] = jsonio.loads(f.read())
    except (FileNotFoundError, ValueError):
        return None
    if not is_alive(int(record.get("pid", 0)), record.get("start")):
        return None
    return record


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
        raise DnsResponderError(
            f"the DNS responder (pid {pid}) did not exit", where=f"pid {pid}", hint="kill it"
        )
    finally:
        os.close(pidfd)


def _child_env() -> dict[str, str]:
    """The environment, with bastion's own source directory importable by the child."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


if __name__ == "__main__":
    from bastion.network._dns_server import main

    main()
