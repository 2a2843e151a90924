"""Threads and their fds read from /proc: the initial state, and threads met for the first time.

Every read tolerates the process vanishing mid-way (it may exit at any moment): a missing
file gives None or an empty value, never an error. Per-process data comes from
``/proc/<tid>`` (which also works for a non-leader tid), the fds from ``/proc/<pid>/fd``.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import time

from bastion.sensor.state import cgroups, procnet
from bastion.sensor.state.model import Fd, FdType, Thread

# ``anon_inode:`` names (as readlink shows them) -> Falco fd types.
_ANON = {
    "[eventfd]": FdType.EVENT,
    "[eventpoll]": FdType.EVENTPOLL,
    "inotify": FdType.INOTIFY,
    "[signalfd]": FdType.SIGNALFD,
    "[timerfd]": FdType.TIMERFD,
    "[userfaultfd]": FdType.USERFAULTFD,
    "[io_uring]": FdType.IOURING,
    "bpf-map": FdType.BPF,
    "bpf-prog": FdType.BPF,
    "bpf_link": FdType.BPF,
    "bpf-link": FdType.BPF,
}
_DELETED = " (deleted)"


class BootClock:
    """Converts /proc's start times (clock ticks since boot) to ns since the epoch."""

    __slots__ = ("boot_ns", "tick_ns")

    def __init__(self, proc_root: str = "/proc") -> None:
        self.boot_ns = 0
        try:
            with open(f"{proc_root}/stat", encoding="ascii") as f:
                for line in f:
                    if line.startswith("btime "):
                        self.boot_ns = int(line.split()[1]) * 1_000_000_000
                        break
        except (OSError, ValueError):
            pass
        self.tick_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")

    def ticks_to_ns(self, ticks: int) -> int:
        return self.boot_ns + ticks * self.tick_ns


def signed_id(value: int) -> int:
    """(uid_t)-1 (unset, as loginuid often is) as -1, the way Falco prints it."""
    return -1 if value == 0xFFFFFFFF else value


def _read(path: str, limit: int = 1 << 16) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read(limit)
    except OSError:
        return None


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def _strings(raw: bytes | None) -> tuple[str, ...]:
    if not raw:
        return ()
    return tuple(s.decode("utf-8", "surrogateescape") for s in raw.rstrip(b"\0").split(b"\0"))


def _cgroups(raw: bytes | None) -> tuple[tuple[str, str], ...]:
    """``hier:controllers:path`` lines -> one ``(controller, path)`` per controller; the
    cgroup2 line (empty controller list) gives controller ""."""
    found: list[tuple[str, str]] = []
    for line in (raw or b"").decode("utf-8", "replace").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        names = parts[1].split(",") if parts[1] else [""]
        found.extend((name.removeprefix("name="), parts[2]) for name in names)
    return tuple(found)


def read_cgroups(proc_root: str, tid: int) -> tuple[tuple[str, str], ...]:
    return _cgroups(_read(f"{proc_root}/{tid}/cgroup"))


def read_ppid(proc_root: str, pid: int) -> int | None:
    """The parent pid /proc shows for `pid` now (after a reparenting: the reaper), or None."""
    raw = _read(f"{proc_root}/{pid}/stat", 4096)
    if not raw:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    return int(fields[1]) if len(fields) > 1 else None


# PF_FORKNOEXEC (include/linux/sched.h): the task was forked and has not exec'd since.
PF_FORKNOEXEC = 0x40


def forked_without_exec(proc_root: str, pid: int) -> bool:
    """Whether process `pid` has not exec'd since its fork (/proc/PID/stat's flags field)."""
    raw = _read(f"{proc_root}/{pid}/stat", 4096)
    if not raw:
        return False
    fields = raw[raw.rfind(b")") + 2 :].split()
    try:
        return bool(int(fields[6]) & PF_FORKNOEXEC)  # field 9: the 7th after the comm
    except (IndexError, ValueError):
        return False


def read_thread(
    proc_root: str, tid: int, clock: BootClock, cgroup2: str | None, *, full: bool = True
) -> Thread | None:
    """The thread `tid` as /proc shows it now, or None if it is gone. `full=False` skips
    what the threads of one process share (args, env, cwd, exe, cgroups): the caller copies
    them from the main thread."""
    base = f"{proc_root}/{tid}"
    raw_stat = _read(f"{base}/stat")
    raw_status = _read(f"{base}/status")
    if not raw_stat or not raw_status:
        return None
    text = raw_stat.decode("utf-8", "replace")
    open_at, close_at = text.find("("), text.rfind(")")
    fields = text[close_at + 2 :].split()
    if open_at < 0 or close_at < 0 or len(fields) < 20:
        return None
    thread = Thread(tid=tid, pid=tid, comm=text[open_at + 1 : close_at])
    thread.ptid = int(fields[1])
    thread.vpgid = int(fields[2])
    thread.sid = int(fields[3])
    thread.tty = int(fields[4])
    thread.start_ts = clock.ticks_to_ns(int(fields[19]))
    for line in raw_status.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(":")
        cols = value.split()
        if not cols:
            continue
        if key == "Tgid":
            thread.pid = int(cols[0])
        elif key == "Uid":
            thread.uid, thread.euid = int(cols[0]), int(cols[1])
        elif key == "Gid":
            thread.gid, thread.egid = int(cols[0]), int(cols[1])
        elif key == "NStgid":
            thread.vpid = int(cols[-1])
        elif key == "NSpid":
            thread.vtid = int(cols[-1])
        elif key == "CapInh":
            thread.cap_inheritable = int(cols[0], 16)
        elif key == "CapPrm":
            thread.cap_permitted = int(cols[0], 16)
        elif key == "CapEff":
            thread.cap_effective = int(cols[0], 16)
    if not full:
        return thread
    argv = _strings(_read(f"{base}/cmdline", 1 << 20))
    thread.exe = argv[0] if argv else ""
    thread.args = argv[1:]
    thread.env = _strings(_read(f"{base}/environ", 1 << 20))
    thread.cwd = _readlink(f"{base}/cwd")
    thread.exepath = _readlink(f"{base}/exe").removesuffix(_DELETED)
    thread.exe_from_memfd = thread.exepath.startswith("/memfd:")
    login = _read(f"{base}/loginuid")
    if login and login.strip().isdigit():
        thread.loginuid = signed_id(int(login))
    thread.cgroups = _cgroups(_read(f"{base}/cgroup"))
    path = cgroups.v2_path(thread.cgroups)
    thread.cgroup_id = cgroups.cgroup2_id(cgroup2, path) if path else 0
    return thread


def list_ids(directory: str) -> list[int]:
    """The numeric entries of a /proc directory (pids, or a process's task ids)."""
    try:
        return [int(name) for name in os.listdir(directory) if name.isdigit()]
    except OSError:
        return []


class SocketIndex:
    """Socket inodes -> `Fd` templates, one table per network namespace. A table is read on
    first use and again on a miss (a socket made since), at most once per `max_age` s."""

    __slots__ = ("_by_netns", "max_age", "proc_root", "reads")

    def __init__(self, proc_root: str, max_age: float = 1.0) -> None:
        self.proc_root = proc_root
        self.max_age = max_age
        self._by_netns: dict[str, tuple[float, dict[int, Fd]]] = {}
        self.reads = 0

    def lookup(self, pid: int, inode: int) -> Fd | None:
        netns = _readlink(f"{self.proc_root}/{pid}/ns/net")
        entry = self._by_netns.get(netns)
        now = time.monotonic()
        if entry is None or (inode not in entry[1] and now - entry[0] >= self.max_age):
            self.reads += 1
            entry = (now, procnet.read_sockets(f"{self.proc_root}/{pid}/net"))
            self._by_netns[netns] = entry
        return entry[1].get(inode)


def _fd_from_link(path: str, target: str, sockets: SocketIndex, pid: int) -> Fd | None:
    if target.startswith("socket:["):
        inode = int(target[8:-1])
        template = sockets.lookup(pid, inode)
        if template is None:
            return Fd(num=0, type=FdType.UNKNOWN, name=target, ino=inode)
        return dataclasses.replace(template)
    if target.startswith("pipe:["):
        return Fd(num=0, type=FdType.PIPE, name=target, ino=int(target[6:-1]))
    if target.startswith("anon_inode:"):
        return Fd(num=0, type=_ANON.get(target[11:], FdType.UNKNOWN), name=target)
    if target.startswith("/memfd:"):
        return Fd(num=0, type=FdType.MEMFD, name=target[1:].removesuffix(_DELETED))
    try:
        info = os.stat(path)
    except OSError:
        return None
    kind = FdType.DIRECTORY if stat.S_ISDIR(info.st_mode) else FdType.FILE
    return Fd(num=0, type=kind, name=target, dev=info.st_dev, ino=info.st_ino)


def read_fds(proc_root: str, pid: int, limit: int, sockets: SocketIndex) -> dict[int, Fd]:
    """Up to `limit` open fds of process `pid` (fewer if it has more: the rest are dropped)."""
    base = f"{proc_root}/{pid}/fd"
    found: dict[int, Fd] = {}
    for num in sorted(list_ids(base))[:limit]:
        path = f"{base}/{num}"
        target = _readlink(path)
        if not target:
            continue
        fd = _fd_from_link(path, target, sockets, pid)
        if fd is not None:
            fd.num = num
            found[num] = fd
    return found
