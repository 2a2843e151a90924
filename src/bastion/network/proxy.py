"""Published ports on the host's IPv6 loopback: one userland proxy per port (docs/network.md).

A port published on every host address (`-p 8080:80`) answers on 127.0.0.1 through the
firewall's DNAT and `route_localnet`; IPv6 has no `route_localnet`, so a ::1 source can never
leave through a bridge and no rule can make [::1]:8080 reach the container. Docker answers
there with docker-proxy; bastion with `python -m bastion.network.proxy` (the server is
`bastion.network._proxy_server`), one detached process per such TCP port, which accepts on
[::1]:PORT and connects to the container's IPv4 address (UDP is not proxied). `reconcile` makes
the running proxies those the published ports want, in one directory per firewall table: a pid
file per port, `tcp-PORT.pid`, holding the port and target the proxy serves.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
from collections.abc import Iterable
from typing import Any, Protocol

from bastion.network import daemon

LOG_FILE = "proxy.log"
_PID_SUFFIX = ".pid"


class Published(Protocol):
    """What a proxy needs of a published port (`firewall.PortMapping` is one)."""

    @property
    def host_ip(self) -> str: ...
    @property
    def host_port(self) -> int: ...
    @property
    def container_ip(self) -> str: ...
    @property
    def container_port(self) -> int: ...
    @property
    def protocol(self) -> str: ...


def wanted(ports: Iterable[Published]) -> dict[str, dict[str, Any]]:
    """The proxies `ports` want, by pid file name: a TCP port published on every address (no
    host address, or `::`) to a container's IPv4 address. Not 0.0.0.0, which says IPv4 only,
    as with Docker; not a port published on one address."""
    proxies: dict[str, dict[str, Any]] = {}
    for p in ports:
        if p.protocol != "tcp" or p.host_ip not in ("", "::"):
            continue
        if ipaddress.ip_address(p.container_ip).version != 4:
            continue
        proxies[f"tcp-{p.host_port}{_PID_SUFFIX}"] = {
            "port": p.host_port,
            "target": f"{p.container_ip}:{p.container_port}",
        }
    return proxies


def reconcile(directory: str, ports: Iterable[Published]) -> None:
    """Stop the proxies of `directory` that `ports` no longer want (or want otherwise), start
    those missing. Nothing is started where the host has no ::1. Raises daemon.DaemonFailed
    (the reason names the port) when one cannot start; those this call started are stopped
    again first."""
    want = wanted(ports) if _has_ipv6_loopback() else {}
    try:
        present = [n for n in os.listdir(directory) if n.endswith(_PID_SUFFIX)]
    except FileNotFoundError:
        present = []
    for name in present:
        record = daemon.running(os.path.join(directory, name))
        settings = want.get(name)
        if record is None or settings is None or _differs(record, settings):
            daemon.stop(os.path.join(directory, name))
    started: list[str] = []
    try:
        for name, settings in want.items():
            pid_file = os.path.join(directory, name)
            if daemon.running(pid_file) is not None:
                continue
            os.makedirs(directory, mode=0o700, exist_ok=True)
            args = [f"--port={settings['port']}", f"--target={settings['target']}"]
            log_file = os.path.join(directory, LOG_FILE)
            daemon.start("bastion.network.proxy", args, pid_file=pid_file, log_file=log_file)
            started.append(pid_file)
    except daemon.DaemonFailed:
        for pid_file in started:
            daemon.stop(pid_file)
        raise


def _differs(record: dict[str, Any], settings: dict[str, Any]) -> bool:
    return any(record.get(k) != v for k, v in settings.items())


def remove(directory: str) -> None:
    """Stop every proxy of `directory` and remove it (its log too)."""
    reconcile(directory, ())
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(directory, LOG_FILE))
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(directory)


def loopback6_free(port: int) -> bool:
    """Whether a proxy could listen on [::1]:`port` (true where the host has no ::1: no proxy
    is started there). The engine's choice of an ephemeral host port asks this too, since a
    port held on [::1] alone would make the proxy, and so the run, fail."""
    error = _bind_loopback6(port)
    return error is None or error.errno != errno.EADDRINUSE


def _has_ipv6_loopback() -> bool:
    """Whether ::1 can be bound here (IPv6 may be off, or lo without its address)."""
    return _bind_loopback6(0) is None


def _bind_loopback6(port: int) -> OSError | None:
    """Why a TCP socket cannot bind [::1]:`port` now, or None when it can."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", port))
    except OSError as e:
        return e
    return None


if __name__ == "__main__":
    from bastion.network._proxy_server import main

    main()
