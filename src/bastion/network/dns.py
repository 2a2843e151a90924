"""Start and stop a network's DNS responder (the server itself: `bastion.network._dns_server`).

One responder per user-defined network, bound to the network's gateway address, port 53, UDP and
TCP, as Docker's embedded DNS answers containers on user networks. It is a detached process
(`python -m bastion.network.dns`, started and stopped through `bastion.network.daemon`), nobody's
child, that outlives the `bastion` command which started it; its pid file in the network's
directory says which process it is and with which settings it runs, so `ensure_responder` is
idempotent and restarts it when the settings change. This module does not import dnslib: only
the responder does.
"""

from __future__ import annotations

import os
from typing import Any

from bastion.errors import BastionError
from bastion.network import daemon

PID_FILE = "dns.pid"
LOG_FILE = "dns.log"


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
        f"--listen={listen}",
        f"--port={port}",
        f"--names={wanted['names']}",
        *(f"--upstream={u}" for u in upstreams),
    ]
    log_path = os.path.join(directory, LOG_FILE)
    pid_file = os.path.join(directory, PID_FILE)
    try:
        return daemon.start("bastion.network.dns", args, pid_file=pid_file, log_file=log_path)
    except daemon.DaemonFailed as e:
        raise DnsResponderError(
            f"the DNS responder did not start: {e.reason}",
            where=f"{listen}:{port}",
            hint=f"see {log_path}; the address must be on the host and port {port} free on it",
        ) from None


def stop_responder(directory: str) -> None:
    """Stop the responder of `directory` and wait until it is gone; quiet when none runs."""
    try:
        daemon.stop(os.path.join(directory, PID_FILE))
    except daemon.DaemonFailed as e:
        raise DnsResponderError(
            f"the DNS responder did not exit: {e.reason}", where=directory, hint="kill it"
        ) from None


def _running(directory: str) -> dict[str, Any] | None:
    return daemon.running(os.path.join(directory, PID_FILE))


if __name__ == "__main__":
    from bastion.network._dns_server import main

    main()
