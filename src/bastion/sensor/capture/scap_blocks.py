"""Decoders for the metadata blocks of a .scap capture: machine, interfaces, users, processes, fds.

The layouts follow falcosecurity/libs `scap_savefile.h` and the readers in
`engine/savefile/scap_savefile.c`, learned from their description, not copied. Every read goes
through `Cursor`, which checks bounds against the end of the block's body and raises
`ScapFormatError` naming the block, the field and the absolute byte offset; nothing here can
raise `struct.error` or `IndexError`.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable
from dataclasses import dataclass

from bastion.errors import BastionError

# Limits libscap enforces on string lengths (scap_limits.h); longer means corrupt.
MAX_PATH = 1024
MAX_ARGS = 4096
MAX_ENV = 4096
MAX_CGROUPS = 4096
MAX_CREDENTIALS = 256


class ScapFormatError(BastionError):
    """Raised when a .scap capture is truncated or corrupt: `where` is ``path:byte offset``."""

    reference = "scap-corrupt"


class NotScapError(ScapFormatError):
    """Raised when a file does not start as a .scap capture does (no section header block):
    it is some other file, not a damaged capture."""


class Cursor:
    """Bounds-checked little/big-endian reader over ``data[pos:end]`` of one block body."""

    __slots__ = ("block", "data", "end", "order", "path", "pos")

    def __init__(self, data: bytes, pos: int, end: int, order: str, path: str, block: str) -> None:
        self.data = data
        self.pos = pos
        self.end = end
        self.order = order
        self.path = path
        self.block = block

    def error(self, message: str, offset: int | None = None) -> ScapFormatError:
        at = self.pos if offset is None else offset
        return ScapFormatError(
            f"corrupt at byte {at}: {self.block}: {message}",
            where=f"{self.path}:byte {at}",
            hint="the capture is truncated or corrupt; re-capture or re-download it",
        )

    @property
    def left(self) -> int:
        return self.end - self.pos

    def take(self, size: int, field: str) -> int:
        """Reserve `size` bytes for `field`; return where they start."""
        if size > self.end - self.pos:
            raise self.error(f"{field} needs {size} bytes, only {self.end - self.pos} left")
        start = self.pos
        self.pos += size
        return start

    def unpack(self, fmt: str, field: str) -> tuple[int, ...]:
        size = struct.calcsize(self.order + fmt)
        start = self.take(size, field)
        return struct.unpack_from(self.order + fmt, self.data, start)

    def uint(self, fmt: str, field: str) -> int:
        value: int = self.unpack(fmt, field)[0]
        return value

    def raw(self, size: int, field: str) -> bytes:
        start = self.take(size, field)
        return self.data[start : start + size]

    def string(self, field: str, limit: int) -> bytes:
        """A string stored as u16 length + bytes (no terminating NUL on disk)."""
        at = self.pos
        size = self.uint("H", f"{field} length")
        if size > limit:
            raise self.error(f"{field} length {size} exceeds the limit {limit}", at)
        return self.raw(size, field)

    def skip_to(self, target: int, what: str) -> None:
        """Move to `target` (the declared end of an entry); error if already past it."""
        if target < self.pos:
            raise self.error(f"{what} is {self.pos - target} bytes longer than its declared length")
        if target > self.end:
            raise self.error(f"{what} declares {target - self.pos} bytes, only {self.left} left")
        self.pos = target


def text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def text_list(raw: bytes) -> tuple[str, ...]:
    """NUL-separated strings (args, env, cgroups); a trailing NUL does not add an empty item."""
    if not raw:
        return ()
    return tuple(part.decode("utf-8", "replace") for part in raw.rstrip(b"\0").split(b"\0"))


# ----------------------------------------------------------------------------- machine info


@dataclass(frozen=True, slots=True, kw_only=True)
class MachineInfo:
    num_cpus: int
    memory_size_bytes: int
    max_pid: int
    hostname: str
    boot_ts_epoch: int
    flags: int


def read_machine_info(cur: Cursor) -> MachineInfo:
    num_cpus, memory, max_pid = cur.unpack("IQQ", "num_cpus/memory/max_pid")
    hostname = text(cur.raw(min(128, cur.left), "hostname"))
    boot_ts = cur.uint("Q", "boot_ts_epoch") if cur.left >= 8 else 0
    flags = cur.uint("Q", "flags") if cur.left >= 8 else 0
    return MachineInfo(
        num_cpus=num_cpus,
        memory_size_bytes=memory,
        max_pid=max_pid,
        hostname=hostname,
        boot_ts_epoch=boot_ts,
        flags=flags,
    )


# ----------------------------------------------------------------------------- interfaces

IF_IPV4, IF_IPV6, IF_IPV4_NOLINKSPEED, IF_IPV6_NOLINKSPEED = 1, 2, 3, 4


@dataclass(frozen=True, slots=True, kw_only=True)
class Interface:
    type: int
    name: str
    addr: str
    netmask: str
    bcast: str
    linkspeed: int


def ipv4(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)


def ipv6(raw: bytes) -> str:
    return str(ipaddress.IPv6Address(raw))


def read_interfaces(cur: Cursor, v2: bool) -> tuple[Interface, ...]:
    found = []
    while cur.left >= 4:
        entry_end = None
        if v2:
            size = cur.uint("I", "interface entry length")
            entry_end = cur.pos + size
        at = cur.pos
        iftype, namelen = cur.unpack("HH", "interface type/name length")
        if namelen >= MAX_PATH:
            raise cur.error(f"interface name length {namelen} exceeds {MAX_PATH - 1}", at)
        if iftype in (IF_IPV4, IF_IPV4_NOLINKSPEED):
            addr, mask, bcast = (ipv4(cur.raw(4, f)) for f in ("addr", "netmask", "bcast"))
        elif iftype in (IF_IPV6, IF_IPV6_NOLINKSPEED):
            addr, mask, bcast = (ipv6(cur.raw(16, f)) for f in ("addr", "netmask", "bcast"))
        else:
            raise cur.error(f"unknown interface type {iftype}", at)
        speed = cur.uint("Q", "linkspeed") if iftype in (IF_IPV4, IF_IPV6) else 0
        name = text(cur.raw(namelen, "interface name"))
        found.append(
            Interface(type=iftype, name=name, addr=addr, netmask=mask, bcast=bcast, linkspeed=speed)
        )
        if entry_end is not None:
            cur.skip_to(entry_end, "interface entry")
    return tuple(found)


# ----------------------------------------------------------------------------- users


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    uid: int
    gid: int
    name: str
    home: str
    shell: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    gid: int
    name: str


def read_users(cur: Cursor, v2: bool) -> tuple[tuple[User, ...], tuple[Group, ...]]:
    users: list[User] = []
    groups: list[Group] = []
    while cur.left >= 4:
        start = cur.pos
        size = cur.uint("I", "user entry length") if v2 else 0
        kind = cur.uint("B", "user entry type")
        if kind == 0:
            uid, gid = cur.unpack("II", "uid/gid")
            name, home, shell = (
                text(cur.string(f, MAX_CREDENTIALS - 1)) for f in ("user name", "home", "shell")
            )
            users.append(User(uid=uid, gid=gid, name=name, home=home, shell=shell))
        else:
            gid = cur.uint("I", "gid")
            groups.append(Group(gid=gid, name=text(cur.string("group name", MAX_CREDENTIALS - 1))))
        if size:
            cur.skip_to(start + size, "user entry")
    return tuple(users), tuple(groups)


# ----------------------------------------------------------------------------- processes


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadInfo:
    """One process-list entry; fields a block version lacks keep libscap's defaults."""

    tid: int
    pid: int
    ptid: int
    sid: int
    vpgid: int
    comm: str
    exe: str
    exepath: str
    args: tuple[str, ...]
    cwd: str
    fdlimit: int
    flags: int
    uid: int
    gid: int
    vmsize_kb: int
    vmrss_kb: int
    vmswap_kb: int
    pfmajor: int
    pfminor: int
    env: tuple[str, ...]
    vtid: int
    vpid: int
    cgroups: tuple[str, ...]
    root: str
    pidns_init_start_ts: int
    tty: int
    loginuid: int
    exe_writable: bool
    cap_inheritable: int
    cap_permitted: int
    cap_effective: int


# Optional tail of a V9 entry, read one field at a time while the entry's length allows.
_V9_TAIL = (
    ("loginuid", "I"),
    ("exe_writable", "B"),
    ("cap_inheritable", "Q"),
    ("cap_permitted", "Q"),
    ("cap_effective", "Q"),
)


def read_thread(cur: Cursor, version: int) -> ThreadInfo:
    """Decode one entry of a PL_BLOCK_TYPE_V<version> block (1..9)."""
    start = cur.pos
    size = cur.uint("I", "process entry length") if version >= 9 else 0
    tid, pid, ptid = cur.unpack("qqq", "tid/pid/ptid")
    sid = cur.uint("q", "sid") if version >= 6 else -1
    vpgid = cur.uint("q", "vpgid") if version >= 8 else -1
    comm = text(cur.string("comm", MAX_PATH))
    exe = text(cur.string("exe", MAX_PATH))
    exepath = text(cur.string("exepath", MAX_PATH)) if version >= 7 else ""
    args = text_list(cur.string("args", MAX_ARGS))
    cwd = text(cur.string("cwd", MAX_PATH))
    fdlimit, flags, uid, gid = cur.unpack("qIII", "fdlimit/flags/uid/gid")
    vmsize = vmrss = vmswap = pfmajor = pfminor = 0
    env: tuple[str, ...] = ()
    vtid = vpid = -1
    cgroups: tuple[str, ...] = ()
    root = ""
    if version >= 2:
        vmsize, vmrss, vmswap, pfmajor, pfminor = cur.unpack("IIIQQ", "vm/page-fault counters")
    if version >= 3:
        env = text_list(cur.string("env", MAX_ENV))
    if version >= 4:
        vtid, vpid = cur.unpack("qq", "vtid/vpid")
        cgroups = text_list(cur.string("cgroups", MAX_CGROUPS))
    if version >= 5:
        root = text(cur.string("root", MAX_PATH))
    extra: dict[str, int] = {"loginuid": 0xFFFFFFFF}
    if size:
        entry_end = start + size
        # libs 0.10 inserted two fields before the 29-byte tail written by older producers.
        if entry_end - cur.pos > 29:
            for name, fmt in (("pidns_init_start_ts", "Q"), ("tty", "I")):
                if cur.pos + struct.calcsize("<" + fmt) <= entry_end:
                    extra[name] = cur.uint(fmt, name)
        for name, fmt in _V9_TAIL:
            if cur.pos + struct.calcsize("<" + fmt) <= entry_end:
                extra[name] = cur.uint(fmt, name)
        cur.skip_to(entry_end, "process entry")
    return ThreadInfo(
        tid=tid,
        pid=pid,
        ptid=ptid,
        sid=sid,
        vpgid=vpgid,
        comm=comm,
        exe=exe,
        exepath=exepath,
        args=args,
        cwd=cwd,
        fdlimit=fdlimit,
        flags=flags,
        uid=uid,
        gid=gid,
        vmsize_kb=vmsize,
        vmrss_kb=vmrss,
        vmswap_kb=vmswap,
        pfmajor=pfmajor,
        pfminor=pfminor,
        env=env,
        vtid=vtid,
        vpid=vpid,
        cgroups=cgroups,
        root=root,
        pidns_init_start_ts=extra.get("pidns_init_start_ts", 0),
        tty=extra.get("tty", 0),
        loginuid=extra["loginuid"],
        exe_writable=bool(extra.get("exe_writable", 0)),
        cap_inheritable=extra.get("cap_inheritable", 0),
        cap_permitted=extra.get("cap_permitted", 0),
        cap_effective=extra.get("cap_effective", 0),
    )


def read_threads(cur: Cursor, version: int) -> tuple[ThreadInfo, ...]:
    found = []
    while cur.left >= 4:
        found.append(read_thread(cur, version))
    return tuple(found)


# ----------------------------------------------------------------------------- fds

FD_UNKNOWN, FD_FILE, FD_DIRECTORY, FD_IPV4_SOCK, FD_IPV6_SOCK = 0, 1, 2, 3, 4
FD_IPV4_SERVSOCK, FD_IPV6_SERVSOCK, FD_FIFO, FD_UNIX_SOCK = 5, 6, 7, 8
FD_FILE_V2 = 16
# Types whose only payload is a name (SCAP_FD_FIFO .. SCAP_FD_PIDFD, minus the sockets).
FD_NAME_ONLY = frozenset({1, 2, 7, 9, 10, 11, 12, 13, 14, 15, 17, 18, 19, 20, 21})


@dataclass(frozen=True, slots=True, kw_only=True)
class FdInfo:
    """One fd-list entry. Sockets carry their tuple; files, pipes and the rest a name."""

    tid: int
    fd: int
    ino: int
    type: int
    name: str = ""
    open_flags: int = 0
    dev: int = 0
    l4proto: int = 0
    sip: str = ""
    sport: int = 0
    dip: str = ""
    dport: int = 0
    unix_source: int = 0
    unix_destination: int = 0


# fd type -> (address width, decoder, connected: two endpoints rather than a listening one)
_INET: dict[int, tuple[int, Callable[[bytes], str], bool]] = {
    FD_IPV4_SOCK: (4, ipv4, True),
    FD_IPV4_SERVSOCK: (4, ipv4, False),
    FD_IPV6_SOCK: (16, ipv6, True),
    FD_IPV6_SERVSOCK: (16, ipv6, False),
}


def read_fd(cur: Cursor, tid: int, v2: bool) -> FdInfo:
    start = cur.pos
    size = cur.uint("I", "fd entry length") if v2 else 0
    at = cur.pos
    fd, ino, fdtype = cur.unpack("qQB", "fd/ino/type")
    info = FdInfo(tid=tid, fd=fd, ino=ino, type=fdtype)
    if fdtype in _INET:
        width, decode, connected = _INET[fdtype]
        if connected:
            sip, dip = decode(cur.raw(width, "sip")), decode(cur.raw(width, "dip"))
            sport, dport, proto = cur.unpack("HHB", "sport/dport/l4proto")
        else:  # a listening socket has one address
            sip, dip, dport = decode(cur.raw(width, "ip")), "", 0
            sport, proto = cur.unpack("HB", "port/l4proto")
        info = FdInfo(
            tid=tid,
            fd=fd,
            ino=ino,
            type=fdtype,
            l4proto=proto,
            sip=sip,
            sport=sport,
            dip=dip,
            dport=dport,
        )
    elif fdtype == FD_UNIX_SOCK:
        source, dest = cur.unpack("QQ", "unix source/destination")
        name = text(cur.string("unix socket path", MAX_PATH - 1))
        info = FdInfo(
            tid=tid,
            fd=fd,
            ino=ino,
            type=fdtype,
            name=name,
            unix_source=source,
            unix_destination=dest,
        )
    elif fdtype == FD_FILE_V2:
        flags = cur.uint("I", "open_flags")
        name = text(cur.string("file name", MAX_PATH - 1))
        dev = cur.uint("I", "dev") if size and cur.pos + 4 <= start + size else 0
        info = FdInfo(tid=tid, fd=fd, ino=ino, type=fdtype, name=name, open_flags=flags, dev=dev)
    elif fdtype in FD_NAME_ONLY:
        info = FdInfo(tid=tid, fd=fd, ino=ino, type=fdtype, name=text(cur.string("fd name", 1023)))
    elif fdtype != FD_UNKNOWN and not size:
        # Without an entry length an unknown type's payload size is unknowable.
        raise cur.error(f"unknown fd type {fdtype} in a block without entry lengths", at + 16)
    if size:
        cur.skip_to(start + size, "fd entry")
    return info


def read_fds(cur: Cursor, v2: bool) -> tuple[int, tuple[FdInfo, ...]]:
    tid = cur.uint("q", "fd list tid")
    found = []
    while cur.left >= 4:
        found.append(read_fd(cur, tid, v2))
    return tid, tuple(found)
