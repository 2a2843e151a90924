"""File descriptors: how each kind of fd gets its Falco type and name, and the bounded table.

Names follow libsinsp: a path for files and directories (made absolute like ``evt.abspath``),
``memfd:NAME`` for a memfd, nothing for a new pipe (``pipe:[ino]`` when read from /proc),
``cip:cport->sip:sport`` for a connected inet socket (the client is always on the left,
whichever side the event came from), ``ip:port`` for a bound or listening one, and for a unix
socket its path (``SRC->DST PATH`` once connected).
"""

from __future__ import annotations

import dataclasses
import posixpath

from bastion.sensor.events.model import SockAddr, SockTuple
from bastion.sensor.state import flags
from bastion.sensor.state.model import Fd, FdType

MEMFD_PREFIX = "memfd:"

_DOMAIN_TYPES = {
    flags.AF_INET: FdType.IPV4,
    flags.AF_INET6: FdType.IPV6,
    flags.AF_UNIX: FdType.UNIX,
    flags.AF_NETLINK: FdType.NETLINK,
}
_FAMILY_TYPES = {"inet": FdType.IPV4, "inet6": FdType.IPV6, "unix": FdType.UNIX}
_INET = frozenset({FdType.IPV4, FdType.IPV6})


def abspath(cwd: str, name: str, base: str | None = None) -> str:
    """`name` made absolute against `base` (a directory fd's path) or else `cwd`, with ``.``,
    ``..`` and repeated slashes folded as Falco's ``evt.abspath`` does (lexically: symlinks
    are not followed, the kernel's view is not available to a sensor)."""
    if not name:
        return name
    if name[0] == "/" and "/." not in name and "//" not in name and name[-1] != "/":
        return name  # already folded: most paths are, and normpath costs a microsecond
    if not name.startswith("/"):
        root = base if base else cwd
        if not root:
            return name
        name = f"{root}/{name}"
    folded = posixpath.normpath(name)
    # posixpath keeps a leading "//" (POSIX allows it to mean something); Linux does not.
    return "/" + folded.lstrip("/") if folded.startswith("//") else folded


def memfd_fd(num: int, name: str, memfd_flags: int = 0) -> Fd:
    return Fd(num=num, type=FdType.MEMFD, name=MEMFD_PREFIX + name, flags=memfd_flags)


def pipe_fd(num: int, ino: int, pipe_flags: int = 0) -> Fd:
    # libsinsp names a pipe made by pipe()/pipe2() nothing (its inode is ``fd.ino``); only a
    # pipe found in /proc or a capture's fd list carries the kernel's ``pipe:[ino]`` name.
    return Fd(num=num, type=FdType.PIPE, name="", flags=pipe_flags, ino=ino)


def l4proto(sock_type: int, proto: int) -> str:
    """Falco's ``fd.l4proto`` from socket()'s type and protocol."""
    kind = sock_type & flags.SOCK_TYPE_MASK
    if kind == flags.SOCK_STREAM or proto == flags.IPPROTO_TCP:
        return "tcp"
    if kind == flags.SOCK_DGRAM or proto == flags.IPPROTO_UDP:
        return "udp"
    if proto in (flags.IPPROTO_ICMP, flags.IPPROTO_ICMPV6):
        return "icmp"
    if kind == flags.SOCK_RAW:
        return "raw"
    return ""


def socket_fd(num: int, domain: int, sock_type: int, proto: int) -> Fd:
    kind = _DOMAIN_TYPES.get(domain, FdType.UNKNOWN)
    proto_name = l4proto(sock_type, proto) if kind in _INET else ""
    return Fd(num=num, type=kind, l4proto=proto_name)


def unix_tuple_name(tup: SockTuple) -> str:
    """libsinsp's name for a unix socket connection: ``SRC->DST PATH`` with the two kernel
    socket addresses in hex (``0->ffff88003c420800 /var/run/nscd/socket``). A tuple decoded
    without the addresses (`source_ptr`/`dest_ptr` absent) is named by its path alone."""
    path = tup.dest_path or tup.source_path or ""
    src, dst = tup.source_ptr, tup.dest_ptr
    if isinstance(src, int) and isinstance(dst, int):
        return f"{src:x}->{dst:x} {path}"
    return path


def swap_ends(tup: SockTuple) -> SockTuple:
    return dataclasses.replace(
        tup, source=tup.dest, sport=tup.dport, dest=tup.source, dport=tup.sport
    )


def patch_unspecified(tup: SockTuple) -> SockTuple:
    """A tuple whose local address is unspecified (an unbound UDP socket's first send): on
    loopback it is the loopback address, as libsinsp patches it from the interface list."""
    src, dst = tup.source, tup.dest
    if src is not None and src.is_unspecified and dst is not None and dst.is_loopback:
        return dataclasses.replace(tup, source=dst)
    return tup


def set_tuple(fd: Fd, tup: SockTuple, *, server: bool) -> None:
    """Record a connection on `fd`: `tup` is client -> server (connect's own side first;
    accept's tuple names the peer first, which is the client too)."""
    if tup.family == "unix":
        fd.type = FdType.UNIX
        fd.name = unix_tuple_name(tup) or fd.name
    else:
        fd.type = _FAMILY_TYPES.get(tup.family, fd.type)
        fd.client, fd.cport = tup.source, tup.sport
        fd.server, fd.sport = tup.dest, tup.dport
        fd.name = str(tup)
        if not fd.l4proto:
            fd.l4proto = "tcp"
    fd.is_server = server


def set_bound(fd: Fd, addr: SockAddr) -> None:
    """bind(): the fd is named by the address; with a port it becomes a server socket whose
    local address is the server side (``fd.sip``/``fd.sport``), as libsinsp's parse_bind_exit
    has it. A port-0 bind (a client choosing its source address) only renames it."""
    if addr.family == "unix":
        fd.type = FdType.UNIX
        fd.name = addr.path or ""
        return
    fd.name = str(addr)
    if addr.family in _FAMILY_TYPES and addr.port:
        fd.type = _FAMILY_TYPES[addr.family]
        fd.server, fd.sport = addr.address, addr.port
        fd.is_server = True


def copy_table(fds: dict[int, Fd]) -> dict[int, Fd]:
    """A new process's fd table: copies, so later changes in one process stay there."""
    return {num: dataclasses.replace(fd) for num, fd in fds.items()}


class FdLimiter:
    """Bounds each process's fd table; `dropped` counts fds not recorded because it was full."""

    __slots__ = ("dropped", "limit")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("max_fds_per_process must be at least 1")
        self.limit = limit
        self.dropped = 0

    def put(self, fds: dict[int, Fd], fd: Fd) -> bool:
        """Store `fd` unless the table is full (a replaced number always fits)."""
        if len(fds) >= self.limit and fd.num not in fds:
            self.dropped += 1
            return False
        fds[fd.num] = fd
        return True
