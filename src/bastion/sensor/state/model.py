"""The records the state tables hold: threads, file descriptors, containers, users, groups.

Mutable slotted dataclasses (the state changes as events arrive); field getters read them.
Fd tables are shared by the threads of one process (`Thread.fds` is the same dict object).
Falco's names are noted where they differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from bastion.sensor.events.ip import IpAddress


class FdType:
    """Falco's ``fd.type`` values, with ``fd.typechar`` below."""

    FILE = "file"
    DIRECTORY = "directory"
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    UNIX = "unix"
    PIPE = "pipe"
    EVENT = "event"
    SIGNALFD = "signalfd"
    EVENTPOLL = "eventpoll"
    INOTIFY = "inotify"
    TIMERFD = "timerfd"
    NETLINK = "netlink"
    BPF = "bpf"
    MEMFD = "memfd"
    USERFAULTFD = "userfaultfd"
    IOURING = "io_uring"
    UNKNOWN = "unknown"

    TYPECHAR: ClassVar[dict[str, str]] = {
        FILE: "f",
        DIRECTORY: "d",
        IPV4: "4",
        IPV6: "6",
        UNIX: "u",
        PIPE: "p",
        EVENT: "e",
        SIGNALFD: "s",
        EVENTPOLL: "l",
        INOTIFY: "i",
        TIMERFD: "t",
        NETLINK: "n",
        BPF: "b",
        MEMFD: "m",
        USERFAULTFD: "u",
        IOURING: "r",
        UNKNOWN: "o",
    }


@dataclass(slots=True)
class Fd:
    """One open file descriptor.

    `name` is Falco's ``fd.name``: a path, ``sip:sport->dip:dport`` for a connected inet
    socket, the path for a unix socket, ``pipe:[ino]`` for a pipe, ``memfd:NAME`` for a memfd.
    For sockets, `client`/`server` follow Falco (``fd.cip``/``fd.sip``): the side that
    connected is the client; `is_server` is true for a listening or accepted socket.
    """

    num: int
    type: str
    name: str = ""
    flags: int = 0
    dev: int = 0
    ino: int = 0
    l4proto: str = ""  # tcp, udp, icmp, raw, "" (unknown)
    client: IpAddress | None = None
    cport: int | None = None
    server: IpAddress | None = None
    sport: int | None = None
    is_server: bool = False
    is_upper_layer: bool = (
        False  # the file lives in an overlay's upper dir (written in the container)
    )


@dataclass(slots=True)
class Thread:
    """One thread (Falco's threadinfo). A process is its main thread (`tid == pid`).

    `exe` is Falco's ``proc.exe`` (argv[0] as the process wrote it); `exepath` is
    ``proc.exepath`` (the resolved executable path). `ptid` is the parent's tid (Falco:
    ``proc.ppid`` reads the parent process's pid). `vtid`/`vpid` are the ids inside the
    thread's pid namespace. `start_ts` is ns since the epoch (``proc.start_ts``) and
    `container_id` is "" on the host. `fds` is shared by the process's threads.
    """

    tid: int
    pid: int
    ptid: int = 0
    comm: str = ""
    exe: str = ""
    exepath: str = ""
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    cwd: str = ""
    uid: int | None = None
    gid: int | None = None
    euid: int | None = None
    egid: int | None = None
    loginuid: int | None = None
    vtid: int | None = None
    vpid: int | None = None
    sid: int | None = None
    vpgid: int | None = None
    tty: int = 0
    start_ts: int = 0
    cgroup_id: int = 0
    cgroups: tuple[tuple[str, str], ...] = ()  # (controller, path) as /proc/PID/cgroup
    container_id: str = ""
    cap_permitted: int = 0
    cap_effective: int = 0
    cap_inheritable: int = 0
    exe_writable: bool = False
    exe_upper_layer: bool = False
    exe_from_memfd: bool = False
    is_exited: bool = False
    fds: dict[int, Fd] = field(default_factory=dict)
    # libsinsp's m_lastevent_fd: the fd number the thread's current event acts on (-1: none);
    # ``fd.num`` reads it, so an fd missing from the table still has its number
    lastevent_fd: int = -1
    # The bastion container whose runtime set-up this thread is part of ("" when none): the
    # thread is then in no container (`container_id` is ""), see `state/setup.py`. `joined`:
    # its own execve makes it the container's (it came into the cgroup from outside, or was
    # forked by such a thread), unlike a hook's process, forked by the container's init.
    setup_of: str = ""
    joined: bool = False
    exec_seen: bool = False  # the sensor saw this thread execve (since it first met it)
    # the container table's generation when this thread was last placed: a thread in no
    # container is placed again once the table has learnt of a container since
    placed_gen: int = 0

    @property
    def is_main_thread(self) -> bool:
        return self.tid == self.pid


@dataclass(frozen=True, slots=True)
class ContainerMount:
    """One mount of a container as its engine reported it (a capture's ``container`` event:
    Docker's ``Mounts`` entries)."""

    source: str
    dest: str
    mode: str = ""
    rdwr: bool = False
    propagation: str = ""

    def __str__(self) -> str:
        # libsinsp's container_mount_info::to_string
        return f"{self.source}:{self.dest}:{self.mode}:{str(self.rdwr).lower()}:{self.propagation}"


@dataclass(frozen=True, slots=True)
class Container:
    """A container the sensor knows, keyed by its cgroup id (and its id).

    `kind` is where the record came from: ``bastion`` (the identity record the runtime wrote
    before the first exec), ``docker``, ``containerd``, ``cri-o``, ``podman`` (recognised from
    the cgroup path), or ``host``. `id` is the full id; Falco's ``container.id`` is its first
    12 characters (`short_id`). `labels` carry CRI's ``io.kubernetes.*`` labels when present,
    from which ``k8s.*`` fields are read.
    """

    id: str
    name: str
    kind: str
    image: str = ""
    image_id: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    # a Kubernetes pod's labels, from the CRI socket (state/cri.py); kubelet's own left out
    pod_labels: dict[str, str] = field(default_factory=dict)
    cgroup_id: int = 0
    cgroup_path: str = ""
    rootfs: str = ""  # host path of the container's root, for its /etc/passwd (may be "")
    privileged: bool | None = None
    start_ts: int = 0
    # the engine's own split of the image reference (a capture's container metadata), when
    # it gave one: Docker reports "latest" for a reference written without a tag
    image_repo: str = ""
    image_tag: str = ""
    image_digest: str = ""
    mounts: tuple[ContainerMount, ...] = ()
    # the container's init (host pid) as its identity record names it; 0: not known
    init_pid: int = 0

    @property
    def short_id(self) -> str:
        return self.id if self.kind == "host" else self.id[:12]


HOST_CONTAINER = Container(id="host", name="host", kind="host")


@dataclass(frozen=True, slots=True)
class User:
    """An /etc/passwd entry (of the host or of one container)."""

    uid: int
    gid: int
    name: str
    home: str = ""
    shell: str = ""


@dataclass(frozen=True, slots=True)
class Group:
    """An /etc/group entry."""

    gid: int
    name: str
