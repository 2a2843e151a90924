"""Initial state from a .scap file's process, fd and user lists (replay).

libscap's numbering of fd types and layer-4 protocols (``scap_fd_type``, ``scap_l4_proto``)
is mapped here onto Falco's names. An fd list belongs to a process; its threads share it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from bastion.sensor.capture.scap_blocks import FdInfo, ThreadInfo
from bastion.sensor.state.model import Fd, FdType, Thread
from bastion.sensor.state.procfs import signed_id

_TYPES = {
    0: FdType.UNKNOWN,
    1: FdType.FILE,
    2: FdType.DIRECTORY,
    3: FdType.IPV4,
    4: FdType.IPV6,
    5: FdType.IPV4,
    6: FdType.IPV6,
    7: FdType.PIPE,
    8: FdType.UNIX,
    9: FdType.EVENT,
    10: FdType.UNKNOWN,
    11: FdType.SIGNALFD,
    12: FdType.EVENTPOLL,
    13: FdType.INOTIFY,
    14: FdType.TIMERFD,
    15: FdType.NETLINK,
    16: FdType.FILE,
    17: FdType.BPF,
    18: FdType.USERFAULTFD,
    19: FdType.IOURING,
    20: FdType.MEMFD,
    21: FdType.UNKNOWN,  # pidfd: Falco has no fd.type name of its own for it here
}
_SERVER_TYPES = frozenset({5, 6})
_L4 = {2: "tcp", 3: "udp", 4: "icmp", 5: "raw"}


def thread_from_scap(info: ThreadInfo) -> Thread:
    cgroups = []
    for entry in info.cgroups:
        subsys, _, path = entry.partition("=")
        cgroups.append((subsys, path))
    return Thread(
        tid=info.tid,
        pid=info.pid,
        ptid=info.ptid,
        comm=info.comm,
        exe=info.exe,
        exepath=info.exepath,
        args=info.args,
        env=info.env,
        cwd=info.cwd,
        uid=info.uid,
        gid=info.gid,
        euid=info.uid,
        egid=info.gid,
        loginuid=signed_id(info.loginuid),
        vtid=info.vtid if info.vtid >= 0 else None,
        vpid=info.vpid if info.vpid >= 0 else None,
        sid=info.sid if info.sid >= 0 else None,
        vpgid=info.vpgid if info.vpgid >= 0 else None,
        tty=info.tty,
        cgroups=tuple(cgroups),
        cap_permitted=info.cap_permitted,
        cap_effective=info.cap_effective,
        cap_inheritable=info.cap_inheritable,
        exe_writable=info.exe_writable,
        exe_from_memfd=info.exepath.startswith("/memfd:"),
    )


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text) if text else None
    except ValueError:
        return None


def fd_from_scap(info: FdInfo) -> Fd:
    kind = _TYPES.get(info.type, FdType.UNKNOWN)
    fd = Fd(
        num=info.fd, type=kind, name=info.name, flags=info.open_flags, dev=info.dev, ino=info.ino
    )
    if kind in (FdType.IPV4, FdType.IPV6):
        fd.l4proto = _L4.get(info.l4proto, "")
        if info.type in _SERVER_TYPES:  # a listening socket: one address, the server's
            fd.server, fd.sport, fd.is_server = _ip(info.sip), info.sport, True
            fd.name = f"{info.sip}:{info.sport}"
        else:
            fd.client, fd.cport = _ip(info.sip), info.sport
            fd.server, fd.sport = _ip(info.dip), info.dport
            fd.name = f"{info.sip}:{info.sport}->{info.dip}:{info.dport}"
    return fd


def group_fds(fds: Iterable[FdInfo]) -> dict[int, dict[int, Fd]]:
    """Fd-list entries -> one table per tid (the process whose list it was)."""
    tables: dict[int, dict[int, Fd]] = {}
    for info in fds:
        tables.setdefault(info.tid, {})[info.fd] = fd_from_scap(info)
    return tables
