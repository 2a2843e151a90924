"""Network tests' helpers: sockets opened inside a named network namespace, a free test range."""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import threading
from collections.abc import Callable

from pyroute2 import IPRoute  # type: ignore[import-untyped]

from bastion._sys.ns import setns

_CLONE_NEWNET = 0x40000000


def in_netns(ns: str | None, make: Callable[[], socket.socket]) -> socket.socket:
    """A socket made by `make` inside network namespace /run/netns/`ns` (None: the host's).

    setns(2) changes the namespace of the calling thread only, so a short thread makes it; the
    socket stays in that namespace for its whole life."""
    if ns is None:
        return make()
    box: list[socket.socket | BaseException] = []

    def run() -> None:
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                setns(fd, _CLONE_NEWNET)
            finally:
                os.close(fd)
            box.append(make())
        except BaseException as e:
            box.append(e)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def free_base() -> str:
    """A "10.X" whose 10.X.0.0/16 no route or address of the host touches."""
    with IPRoute() as ipr:
        used = []
        for r in ipr.get_routes(family=socket.AF_INET):
            dst = r.get_attr("RTA_DST")
            if dst:
                used.append(ipaddress.ip_network(f"{dst}/{r['dst_len']}", strict=False))
        used += [
            ipaddress.ip_network(f"{a.get_attr('IFA_ADDRESS')}/32")
            for a in ipr.get_addr(family=socket.AF_INET)
        ]
    candidates = [f"10.{n}" for n in range(180, 250)]
    secrets.SystemRandom().shuffle(candidates)
    for base in candidates:
        net = ipaddress.ip_network(f"{base}.0.0/16")
        if not any(net.overlaps(u) for u in used if u.prefixlen > 0):
            return base
    raise RuntimeError("no free 10.X.0.0/16 for a test topology")
