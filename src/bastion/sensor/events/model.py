"""The decoded event every source produces (live probe, bastion capture, .scap replay).

One mutable slotted class, `Event`, is built per event by a decoder, enriched by the state
tables (`thread`, `fd`) and then read by field getters. Parameter names and value kinds follow
Falco's event table, so Falco field semantics (``evt.arg.name``, ``evt.rawarg.flags``) apply
unchanged. Values are decoded once, by type (`ParamType`):

- integers (fd, pid, uid, flags, mode, errno...) -> ``int``
- paths and text (CHARBUF, FSPATH, FSRELPATH) -> ``str`` (undecodable bytes kept with
  ``surrogateescape``)
- BYTEBUF -> ``bytes``
- CHARBUFARRAY (argv, env) -> ``tuple[str, ...]``
- SOCKADDR -> `SockAddr`, SOCKTUPLE -> `SockTuple`
- absent or unreadable (the probe could not read it) -> the parameter is missing from `params`
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeAlias

from bastion.sensor.events.ip import IpAddress as IpAddress  # re-exported

if TYPE_CHECKING:
    from bastion.sensor.state.model import Fd, Thread


class ParamType:
    """libscap's parameter types (``PT_*``), by the names Falco's docs use."""

    NONE = "NONE"
    INT8 = "INT8"
    INT16 = "INT16"
    INT32 = "INT32"
    INT64 = "INT64"
    UINT8 = "UINT8"
    UINT16 = "UINT16"
    UINT32 = "UINT32"
    UINT64 = "UINT64"
    CHARBUF = "CHARBUF"
    BYTEBUF = "BYTEBUF"
    ERRNO = "ERRNO"
    SOCKADDR = "SOCKADDR"
    SOCKTUPLE = "SOCKTUPLE"
    FD = "FD"
    PID = "PID"
    FDLIST = "FDLIST"
    FSPATH = "FSPATH"
    SYSCALLID = "SYSCALLID"
    SIGTYPE = "SIGTYPE"
    RELTIME = "RELTIME"
    ABSTIME = "ABSTIME"
    PORT = "PORT"
    L4PROTO = "L4PROTO"
    SOCKFAMILY = "SOCKFAMILY"
    BOOL = "BOOL"
    IPV4ADDR = "IPV4ADDR"
    DYNAMIC = "DYNAMIC"
    FLAGS8 = "FLAGS8"
    FLAGS16 = "FLAGS16"
    FLAGS32 = "FLAGS32"
    UID = "UID"
    GID = "GID"
    DOUBLE = "DOUBLE"
    SIGSET = "SIGSET"
    CHARBUFARRAY = "CHARBUFARRAY"
    CHARBUF_PAIR_ARRAY = "CHARBUF_PAIR_ARRAY"
    IPV4NET = "IPV4NET"
    IPV6ADDR = "IPV6ADDR"
    IPV6NET = "IPV6NET"
    IPADDR = "IPADDR"
    IPNET = "IPNET"
    MODE = "MODE"
    FSRELPATH = "FSRELPATH"
    ENUMFLAGS8 = "ENUMFLAGS8"
    ENUMFLAGS16 = "ENUMFLAGS16"
    ENUMFLAGS32 = "ENUMFLAGS32"


class Direction:
    """Falco's ``evt.dir``: ``>`` for a syscall's enter event, ``<`` for its exit."""

    ENTER = ">"
    EXIT = "<"


class Category:
    """Falco's ``evt.category`` values (``EC_*`` names in lower case)."""

    UNKNOWN = "unknown"
    OTHER = "other"
    FILE = "file"
    NET = "net"
    IPC = "ipc"
    MEMORY = "memory"
    PROCESS = "process"
    SLEEP = "sleep"
    SYSTEM = "system"
    SIGNAL = "signal"
    USER = "user"
    TIME = "time"
    IO_READ = "IO_read"
    IO_WRITE = "IO_write"
    IO_OTHER = "IO_other"
    WAIT = "wait"
    SCHEDULER = "scheduler"
    INTERNAL = "internal"


class EventFlag:
    """An event-table row's flags: libs' ``EF_*`` bits (`driver/event_table.c`) that the state
    reads, plus one of bastion's. A row's `flags` is their ``|``; the state derives its
    dispatch from them (`bastion.sensor.state.kinds`), never from lists of names.

    - `USES_FD`: the event acts on the fd its parameters name (``fd``, else the first ``PT_FD``
      parameter); libsinsp attaches that fd to the event, and Falco's ``fd.*`` fields read it
    - `CREATES_FD`: the exit event's result is a new fd (its handler adds it to the table)
    - `DESTROYS_FD`: the call closes the fd it names
    - `SKIPPARSERESET`: not a syscall's first half (metadata, scheduler, drops): it must not
      replace its thread's pending enter event
    - `UNPAIRED`: bastion's: a scheduler event with no enter side (``procexit``, whose libscap
      code is even): its handler runs whatever its direction says
    """

    NONE = 0
    USES_FD = 1 << 0
    CREATES_FD = 1 << 1
    DESTROYS_FD = 1 << 2
    SKIPPARSERESET = 1 << 3
    UNPAIRED = 1 << 4

    NAMES: ClassVar[dict[int, str]] = {
        USES_FD: "USES_FD",
        CREATES_FD: "CREATES_FD",
        DESTROYS_FD: "DESTROYS_FD",
        SKIPPARSERESET: "SKIPPARSERESET",
        UNPAIRED: "UNPAIRED",
    }

    @classmethod
    def text(cls, flags: int) -> str:
        """``USES_FD|CREATES_FD`` (empty for none), as the docs print a row's flags."""
        return "|".join(name for bit, name in cls.NAMES.items() if flags & bit)


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter of an event type: Falco's name, its `ParamType`, for flags and enums the
    name of the flag table that renders it (``file_flags``, ``clone_flags``...), and for a
    relative path (``FSRELPATH``) the index of the parameter holding the directory fd it is
    resolved against (libs' ``DIRFD_PARAM``; None: the thread's cwd)."""

    name: str
    type: str
    flags: str | None = None
    dirfd: int | None = None


@dataclass(frozen=True, slots=True)
class SockAddr:
    """A socket address: ``family`` is ``inet``/``inet6``/``unix``/``other``.

    For inet families `address` is an `ipaddress` object and `port` an int; for unix sockets
    `path` is the socket path (abstract names start with ``@``, as Falco prints them).
    """

    family: str
    address: IpAddress | None = None
    port: int | None = None
    path: str | None = None

    def __str__(self) -> str:
        if self.family == "unix":
            return self.path or ""
        if self.family == "inet6":
            return f"{self.address}:{self.port}"
        if self.family == "inet":
            return f"{self.address}:{self.port}"
        return ""


@dataclass(frozen=True, slots=True)
class SockTuple:
    """A connection's two ends as Falco's SOCKTUPLE: source is the caller's side.

    For unix sockets `source_path` / `dest_path` hold the paths and addresses/ports are None
    (a .scap tuple also has the two ends' kernel addresses, `source_ptr` / `dest_ptr`). For
    accept, as in Falco's driver, the source is the peer (the client).
    `__str__` renders Falco's ``sip:sport->dip:dport`` (unix: ``->path``).
    """

    family: str
    source: IpAddress | None = None
    sport: int | None = None
    dest: IpAddress | None = None
    dport: int | None = None
    source_path: str | None = None
    dest_path: str | None = None
    # unix sockets in .scap files: the kernel addresses of both ends, as Falco prints them
    source_ptr: int | None = None
    dest_ptr: int | None = None

    def __str__(self) -> str:
        if self.family == "unix":
            return f"{self.source_path or ''}->{self.dest_path or ''}"
        return f"{self.source}:{self.sport}->{self.dest}:{self.dport}"


ParamValue: TypeAlias = "int | str | bytes | tuple[str, ...] | SockAddr | SockTuple"
"""What the live probe's decoder gives a parameter (the kinds this module's docstring lists)."""


class Event:
    """One decoded event. Decoders fill the first group; the state tables fill `thread`/`fd`.

    - `num`: 1-based sequence number in its stream (Falco's ``evt.num``)
    - `ts`: nanoseconds since the Unix epoch (``evt.rawtime``)
    - `cpu`: CPU the event was captured on
    - `tid`: host thread id; `pid`: host thread-group id when the source knows it (the live
      probe does; a .scap event learns it from the thread table), else 0
    - `type`: Falco's event name (``openat``, ``execve``, ``procexit``...)
    - `dir`: `Direction.ENTER` or `Direction.EXIT`
    - `category`: a `Category` value
    - `params`: Falco's parameter names, in Falco's order, to decoded values
    - `specs`: each parameter's `ParamSpec` by name (one dict shared by every event of the
      same type and source), so rendering never needs to know where the event came from
    - `res`: the return value for exit events with one (``res`` or the ``fd`` a call returns),
      else None
    - `cgroup_id`: the cgroup v2 id the probe saw (0 when unknown, e.g. from a .scap file)
    - `thread`: the `Thread` after the state applied this event (None before, or unknown)
    - `fd`: the `Fd` the event acts on (for open-like calls, the new one; for close, the closed
      one, still readable), or None
    - `kernel_killed`: the probe SIGKILLed the event's process in the kernel (the in-kernel
      kill, sensor/kernel_kill.py) before it returned to user space
    """

    __slots__ = (
        "category",
        "cgroup_id",
        "cpu",
        "dir",
        "fd",
        "kernel_killed",
        "num",
        "params",
        "pid",
        "res",
        "specs",
        "thread",
        "tid",
        "ts",
        "type",
    )

    def __init__(  # positional too: the live decoder calls it positionally (2x faster)
        self,
        num: int,
        ts: int,
        cpu: int,
        tid: int,
        pid: int,
        type: str,
        dir: str,
        category: str,
        params: dict[str, object],
        specs: Mapping[str, ParamSpec],
        res: int | None = None,
        cgroup_id: int = 0,
    ) -> None:
        self.num = num
        self.ts = ts
        self.cpu = cpu
        self.tid = tid
        self.pid = pid
        self.type = type
        self.dir = dir
        self.category = category
        self.params = params
        self.specs = specs
        self.res = res
        self.cgroup_id = cgroup_id
        self.thread: Thread | None = None
        self.fd: Fd | None = None
        self.kernel_killed = False

    def __repr__(self) -> str:
        return (
            f"Event(num={self.num}, ts={self.ts}, tid={self.tid}, pid={self.pid}, "
            f"{self.dir} {self.type}, res={self.res}, params={self.params!r})"
        )
