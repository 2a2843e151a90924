"""`SensorState`: the facade over the thread, fd, container and user tables.

`apply(event)` is the per-event path: find (or create) the event's thread, run the handler of
its type, attach `event.thread`, `event.pid` and `event.fd`. Threads met for the first time
are read from /proc when live (the sensor started after them, or missed their clone) and
created bare when replaying a capture, where /proc describes another machine.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable, Iterator
from types import MethodType

from bastion.identity import DEFAULT_STATE_ROOT
from bastion.sensor.events.model import Direction, Event
from bastion.sensor.state import cgroups, procfs, setup
from bastion.sensor.state.apply import ALWAYS, CLONE_EVENTS, HANDLERS, META_HANDLERS, NOT_SYSCALLS
from bastion.sensor.state.containers import ContainerTable
from bastion.sensor.state.fast import fast_apply
from bastion.sensor.state.fd_use import fd_param, uses_fd
from bastion.sensor.state.fds import FdLimiter
from bastion.sensor.state.model import HOST_CONTAINER, Container, Group, Thread, User
from bastion.sensor.state.on_process import on_clone
from bastion.sensor.state.scap_seed import group_fds, thread_from_scap
from bastion.sensor.state.threads import ThreadTable
from bastion.sensor.state.users import UserTable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.sensor.capture import scap_blocks

HOST_AFTER = 2.0  # seconds an unknown cgroup id waits for its identity record
RECHECK = 0.02  # seconds between two looks at the same unknown cgroup id
CHANGED_EVERY = 0.001  # seconds between two looks at the runtime roots from the event path
_MAX_ANCESTORS = 256  # a loop in ptid links (reused tids) must not hang ancestors()
_ENTER = Direction.ENTER  # a global, not an attribute read per event


class SensorState:
    """The sensor's view of the machine: threads, their fds, containers, users."""

    def __init__(
        self,
        *,
        max_threads: int = 65536,
        max_fds_per_process: int = 4096,
        runtime_roots: tuple[str, ...] = (DEFAULT_STATE_ROOT,),
        proc_root: str = "/proc",
        hostname: str | None = None,
        host_root: str = "/",
    ) -> None:
        self.proc_root = proc_root.rstrip("/") or "/"
        self.hostname = hostname if hostname is not None else os.uname().nodename
        self.live = True  # False once seeded from a capture: /proc is not that machine's
        self.clock = procfs.BootClock(self.proc_root)
        self.cgroup2 = cgroups.cgroup2_mount(self.proc_root)
        self.threads = ThreadTable(max_threads)
        self.fd_limiter = FdLimiter(max_fds_per_process)
        self.containers = ContainerTable(
            runtime_roots, proc_root=self.proc_root, ticks_to_ns=self.clock.ticks_to_ns
        )
        self.users = UserTable(host_root)
        self.copied_fd_tables = 0
        self.proc_lookups = 0
        self._applied = 0  # events `apply` (this method) took; the twin counts its own
        self._enter: dict[int, Event] = {}  # tid -> its last enter event
        self._cgroup_containers: dict[int, str] = {}  # cgroup id -> container id ("" host)
        self._unknown_since: dict[int, float] = {}
        self._recheck_at: dict[int, float] = {}
        self._changed_next = 0.0
        self._reparent_asked: set[tuple[int, int]] = set()
        self._sockets = procfs.SocketIndex(self.proc_root)
        # the open and close exits of a flood in C where the extension is built (fast.py);
        # the method below stays the definition and takes every other event
        self._fast = fast_apply(self, MethodType(SensorState.apply, self))
        if self._fast is not None:
            self.apply = self._fast  # type: ignore[method-assign, assignment]

    @property
    def events(self) -> int:
        """Events applied, by this class's method and by the compiled twin."""
        return self._applied + self.events_compiled

    @property
    def events_compiled(self) -> int:
        """Events the compiled twin applied itself (0 where it is not built)."""
        return self._fast.handled if self._fast is not None else 0

    # ------------------------------------------------------------------ seeding
    def seed_from_proc(self) -> int:
        """Read every process and thread (with fds, sockets, cgroups) from /proc; returns
        how many threads were added. Stops when the thread table is full."""
        self.live = True
        self.containers.refresh()
        sockets = self._sockets
        added = 0
        for pid in procfs.list_ids(self.proc_root):
            if len(self.threads) >= self.threads.max_threads:
                break
            added += self._seed_process(pid, sockets)
        return added

    def _seed_process(self, pid: int, sockets: procfs.SocketIndex) -> int:
        main = procfs.read_thread(self.proc_root, pid, self.clock, self.cgroup2)
        if main is None:
            return 0
        main.fds = procfs.read_fds(self.proc_root, pid, self.fd_limiter.limit, sockets)
        self._place(main)
        setup.met_in_proc(self.containers, main, self.proc_root)
        self.threads.add(main)
        added = 1
        for tid in procfs.list_ids(f"{self.proc_root}/{pid}/task"):
            if tid != pid and len(self.threads) < self.threads.max_threads:
                self.threads.add(self._sibling(main, tid))
                added += 1
        return added

    def _sibling(self, main: Thread, tid: int) -> Thread:
        """A non-leader thread: shares the process's fds, cwd and image with its leader."""
        part = procfs.read_thread(self.proc_root, tid, self.clock, None, full=False)
        sibling = dataclasses.replace(main, tid=tid)
        sibling.fds = main.fds  # replace() keeps the same dict object: shared, as it must be
        if part is not None:
            sibling.comm, sibling.vtid = part.comm, part.vtid
            sibling.uid, sibling.euid, sibling.gid, sibling.egid = (
                part.uid,
                part.euid,
                part.gid,
                part.egid,
            )
        return sibling

    def seed_from_scap(
        self,
        threads: Iterable[scap_blocks.ThreadInfo],
        fds: Iterable[scap_blocks.FdInfo],
        users: Iterable[scap_blocks.User] = (),
        groups: Iterable[scap_blocks.Group] = (),
    ) -> int:
        """Install a capture's process/fd/user lists; later events are applied as a replay."""
        self.live = False
        tables = group_fds(fds)
        added: list[Thread] = []
        for info in threads:
            thread = thread_from_scap(info)
            self.threads.add(thread)
            added.append(thread)
        for thread in added:
            main = self.threads.get(thread.pid)
            owner = main if main is not None else thread
            if owner is thread:
                thread.fds = tables.get(thread.tid, {})
            else:
                owner.fds = owner.fds or tables.get(owner.tid, {})
                thread.fds = owner.fds
                thread.cgroups = thread.cgroups or owner.cgroups
            self._place(thread)
        self.users.seed(
            (User(uid=u.uid, gid=u.gid, name=u.name, home=u.home, shell=u.shell) for u in users),
            (Group(gid=g.gid, name=g.name) for g in groups),
        )
        return len(added)

    # ------------------------------------------------------------------ the event path
    def apply(self, event: Event) -> None:
        """Update the tables for `event`; set its `thread`, `pid` and `fd`. The definition:
        where the extension is built, the instance's `apply` is fast.py's compiled twin, which
        hands this method every event it does not take."""
        self._applied += 1
        kind = event.type
        meta = META_HANDLERS.get(kind)
        if meta is not None:  # machine-wide records: no thread (libsinsp sets none either)
            meta(self, event)
            return
        if event.dir == _ENTER and kind not in ALWAYS:
            if kind not in NOT_SYSCALLS:
                self._enter[event.tid] = event
            thread = self.thread_for(event.tid, event.pid)
        elif kind in CLONE_EVENTS:
            thread = on_clone(self, event) or self.thread_for(event.tid, event.pid)
        else:  # the common case: a known thread (one lookup, no call)
            thread = self.threads.get(event.tid) or self.thread_for(event.tid, event.pid)
            if thread is not None:
                handler = HANDLERS.get(kind)
                if handler is not None:
                    event.thread = thread  # handlers may read it; procexit purges the record
                    handler(self, event, thread)
        if thread is None:
            return
        event.thread = thread
        if not event.pid:
            event.pid = thread.pid
        cgid = event.cgroup_id
        if cgid:
            if cgid != thread.cgroup_id:
                thread.cgroup_id = cgid
                self._place(thread, arriving=True)
            elif not thread.container_id and not thread.setup_of:
                cached = self._cgroup_containers.get(cgid)
                if cached if cached is not None else self._unknown_due(thread, cgid):
                    # the table learnt of a container since this thread was placed (its
                    # record landed, or another thread of it met the record first), or its
                    # cgroup may be known now
                    self._place(thread, arriving=True)
        if event.fd is not None:
            thread.lastevent_fd = event.fd.num  # a handler made or found it
        elif uses_fd(kind, event.dir):
            num = self.event_fd(event)
            thread.lastevent_fd = -1 if num is None else num
            if num is not None and num >= 0:
                event.fd = thread.fds.get(num)
        elif kind not in NOT_SYSCALLS and kind not in ALWAYS:
            thread.lastevent_fd = -1

    def event_fd(self, event: Event) -> int | None:
        """The fd number an fd-using event acts on, as libsinsp's ``m_lastevent_fd``: an exit
        takes its enter event's fd (old captures put it there only), else its own."""
        if event.dir == Direction.EXIT:
            enter = self._enter.get(event.tid)
            if enter is not None and enter.type == event.type:
                num = fd_param(enter.params, enter.specs)
                if num is not None:
                    return num
        return fd_param(event.params, event.specs)

    def enter_param(self, event: Event, name: str) -> object:
        """`name` from the enter event of the same call, for sources whose exit lacks it."""
        enter = self._enter.get(event.tid)
        if enter is None or enter.type != event.type:
            return None
        return enter.params.get(name)

    def thread_for(self, tid: int, pid: int = 0) -> Thread | None:
        """The thread `tid`; one met for the first time is read from /proc (live) or made
        bare (replay)."""
        thread = self.threads.get(tid)
        if thread is not None or tid <= 0:
            return thread
        if self.live:
            self.proc_lookups += 1
            thread = procfs.read_thread(self.proc_root, tid, self.clock, self.cgroup2)
            if thread is not None:
                main = self.threads.get(thread.pid) if thread.pid != tid else None
                if main is not None:
                    thread.fds = main.fds
                else:
                    thread.fds = procfs.read_fds(
                        self.proc_root, thread.pid, self.fd_limiter.limit, self._sockets
                    )
        if thread is None:
            main = self.threads.get(pid) if pid and pid != tid else None
            thread = Thread(tid=tid, pid=pid or tid)
            if main is not None:
                thread.fds = main.fds
                thread.container_id = main.container_id
        self._place(thread)
        if self.live:
            setup.met_in_proc(self.containers, thread, self.proc_root)
        return self.add_thread(thread)

    def add_thread(self, thread: Thread) -> Thread:
        return self.threads.add(thread)

    def remove_thread(self, tid: int) -> None:
        self.threads.remove(tid)
        self._enter.pop(tid, None)

    # ------------------------------------------------------------------ containers
    def _place(self, thread: Thread, *, arriving: bool = False) -> None:
        """Place `thread` by its cgroup; `arriving`: an event moved it there (not seeding),
        which may start or end the runtime's set-up (`setup`)."""
        before = thread.container_id or thread.setup_of
        self._find_container(thread)
        if arriving:
            setup.after_placement(self.containers, thread, before)

    def _find_container(self, thread: Thread) -> None:
        thread.placed_gen = self.containers.generation
        self._find_container_now(thread)

    def _find_container_now(self, thread: Thread) -> None:
        """Set `thread.container_id`: by cgroup id when known, else by cgroup path.

        An unknown cgroup id is asked about again (rescans are rate-limited by the table)
        until it has stayed unknown for `HOST_AFTER` seconds: a runtime creates a
        container's cgroup a moment before it writes the identity record.
        """
        cgid = thread.cgroup_id
        if cgid:
            cached = self._cgroup_containers.get(cgid)
            if cached is not None:
                thread.container_id = cached
                return
            found = self.containers.find_cgroup_id(cgid)
            if found is not None:
                thread.container_id = self._cgroup_containers[cgid] = found.id
                return
        if not thread.cgroups and self.live:
            thread.cgroups = procfs.read_cgroups(self.proc_root, thread.tid)
        found = self.containers.by_cgroups(thread.cgroups) if thread.cgroups else None
        thread.container_id = found.id if found is not None else ""
        if found is not None and not found.rootfs and self.live:
            self.containers.add(
                dataclasses.replace(found, rootfs=f"{self.proc_root}/{thread.pid}/root")
            )
        if cgid and (found is not None or self._settled(cgid)):
            self._cgroup_containers[cgid] = thread.container_id
            self._recheck_at.pop(cgid, None)

    def _unknown_due(self, thread: Thread, cgid: int) -> bool:
        """Whether a thread of a cgroup not yet known (nor settled as the host's) is to be
        placed again: the table took in records since it was placed; or the cgroup id was not
        looked up for `RECHECK` seconds (each look reads /proc and may rescan the runtime
        roots; per event, it cost ten times the rest of `apply`); or, at most every
        `CHANGED_EVERY` seconds (not on each of a burst's events), a look at the runtime
        roots (a few stats) says they changed. Every event of a new cgroup's first seconds
        asks, so one clock read serves both delays."""
        containers = self.containers
        if self.live:
            containers.absorb()  # records the watch read meanwhile
        if thread.placed_gen != containers.generation:
            return True
        now = time.monotonic()
        if now >= self._recheck_at.get(cgid, 0.0):
            self._recheck_at[cgid] = now + RECHECK
            return True
        if self.live and now >= self._changed_next:
            self._changed_next = now + CHANGED_EVERY
            return containers.changed()
        return False

    def _settled(self, cgid: int) -> bool:
        """True once `cgid` has been unknown long enough to be taken as a host cgroup."""
        now = time.monotonic()
        first = self._unknown_since.setdefault(cgid, now)
        if now - first < HOST_AFTER:
            return False
        del self._unknown_since[cgid]
        return True

    def place(self, thread: Thread) -> None:
        """Re-place `thread` in its container after an event changed its cgroups."""
        self._place(thread, arriving=True)

    def cloned_in_setup(self, creator: Thread, child: Thread) -> None:
        """`child` was cloned by `creator`, a thread of a runtime set-up."""
        setup.after_clone(self.containers, creator, child)

    def executed(self, thread: Thread) -> None:
        """`thread` ran a successful execve (the end of a runtime set-up, maybe)."""
        setup.after_execve(self.containers, thread)

    def container_of(self, thread: Thread) -> Container:
        if not thread.container_id:
            return HOST_CONTAINER
        return self.containers.by_id(thread.container_id) or HOST_CONTAINER

    # ------------------------------------------------------------------ process tree
    def process(self, pid: int) -> Thread | None:
        """The main thread of process `pid`."""
        return self.threads.get(pid)

    def parent(self, thread: Thread) -> Thread | None:
        """The parent process (Falco's ``proc.pname``...), None at the top or when unknown."""
        if thread.ptid <= 0:
            return None
        parent = self.threads.get(thread.ptid)
        if parent is None:
            parent = self._reparented(thread)
        if parent is None:
            return None
        main = self.threads.get(parent.pid)
        return main if main is not None else parent

    def _reparented(self, thread: Thread) -> Thread | None:
        """Live: a process whose parent exited has a new one (the reaper: its pid namespace's
        init or a subreaper), as libsinsp's reparenting gives; /proc knows which. Asked once
        per process and parent, so a lookup that fails does not read /proc again and again."""
        if not self.live or (thread.pid, thread.ptid) in self._reparent_asked:
            return None
        if len(self._reparent_asked) > 4096:
            self._reparent_asked.clear()
        self._reparent_asked.add((thread.pid, thread.ptid))
        ppid = procfs.read_ppid(self.proc_root, thread.pid)
        if ppid is None or ppid == thread.ptid or ppid <= 0:
            return None
        thread.ptid = ppid
        return self.thread_for(ppid)

    def ancestors(self, thread: Thread) -> Iterator[Thread]:
        """Parent, grandparent, ... (``proc.aname[N]``), stopping at a loop or the top."""
        seen = {thread.pid}
        current = self.parent(thread)
        while current is not None and current.pid not in seen and len(seen) < _MAX_ANCESTORS:
            yield current
            seen.add(current.pid)
            current = self.parent(current)

    # ------------------------------------------------------------------ users
    def user(self, thread: Thread) -> User | None:
        return self.users.user(
            thread.euid if thread.euid is not None else thread.uid, self.container_of(thread)
        )

    def stats(self) -> dict[str, int]:
        return {
            "events": self.events,
            "events_compiled": self.events_compiled,
            "threads": len(self.threads),
            "threads_evicted": self.threads.evicted,
            "threads_purged": self.threads.purged,
            "proc_lookups": self.proc_lookups,
            "fds_dropped": self.fd_limiter.dropped,
            "fd_tables_copied": self.copied_fd_tables,
            "containers": len(self.containers),
            "container_scans": self.containers.scans,
            "user_tables": len(self.users),
        }
