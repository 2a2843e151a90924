"""The container table: bastion's containers from their identity records, others by cgroup.

bastion's runtime writes ``<runtime_root>/<id>/identity.json`` before the container's first
exec, so a scan of the runtime roots names a container before its first syscall. The table
scans at start and again when an event carries a cgroup id it does not know, at most once per
`rescan_interval` seconds (a host cgroup id is unknown on every event; it must not cost a
directory scan each time). Containers of other engines are recognised from the cgroup path
(`cgroups.engine_container`) and added as they are met.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator

from bastion import jsonio
from bastion.identity import (
    DEFAULT_STATE_ROOT,
    GONE_DIR,
    IDENTITY_FILE,
    POD_SANDBOX_LABEL,
    ContainerIdentity,
)
from bastion.sensor.state import cgroups, engines
from bastion.sensor.state.model import Container, ContainerMount

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.sensor.state.cri import PodLabels
    from bastion.sensor.state.identity_watch import IdentityWatch


def from_identity(
    identity: ContainerIdentity, proc_root: str, ticks_to_ns: Callable[[int], int]
) -> Container:
    """A `Container` for a bastion identity record; its files are read through the init's
    root (``/proc/<pid>/root``), which is the container's rootfs seen from the host."""
    return Container(
        id=identity.id,
        name=identity.name,
        kind="bastion",
        image=identity.image,
        labels=dict(identity.labels or {}),
        cgroup_id=identity.cgroup_ids[0] if identity.cgroup_ids else 0,
        cgroup_path=identity.cgroup_path,
        rootfs=f"{proc_root}/{identity.pid}/root" if identity.pid else "",
        privileged=identity.privileged,
        start_ts=ticks_to_ns(identity.start_time) if identity.start_time else 0,
        init_pid=identity.pid,
    )


def read_identity(path: str) -> ContainerIdentity | None:
    """The record at `path`, or None when it is missing, half written or not an identity."""
    try:
        with open(path, "rb") as f:
            doc = jsonio.loads(f.read())
        return ContainerIdentity.from_dict(doc) if isinstance(doc, dict) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


#: Seconds a deleted bastion container stays in the table for its last events.
GONE_GRACE = 30.0


class ContainerTable:
    """Containers by id, by cgroup id and by cgroup path."""

    def __init__(
        self,
        runtime_roots: tuple[str, ...] = (DEFAULT_STATE_ROOT,),
        *,
        proc_root: str = "/proc",
        ticks_to_ns: Callable[[int], int] = lambda ticks: 0,
        rescan_interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime_roots = runtime_roots
        self.proc_root = proc_root
        self._ticks_to_ns = ticks_to_ns
        self.rescan_interval = rescan_interval
        self._clock = clock
        self._next_scan = 0.0
        self._by_id: dict[str, Container] = {}
        self._by_cgroup_id: dict[int, Container] = {}
        self._by_path: dict[str, Container] = {}
        self._bastion_ids: set[str] = set()
        self._described: dict[str, Container] = {}  # short id -> what the engine said
        self.scans = 0
        # what the last scan saw, so a miss can tell cheaply whether a scan could find more:
        # each root's mtime (a new container directory) and the identity records not yet
        # written in the directories it met (the runtime writes one before the first exec)
        self._root_mtimes: dict[str, int] = {}
        self._pending: set[str] = set()
        # a container whose directory went is kept `GONE_GRACE` seconds: its last events are
        # evaluated after its `delete` (the sensor runs a little behind the kernel)
        self._gone_since: dict[str, float] = {}
        self._forgotten: set[str] = set()
        self._watch: IdentityWatch | None = None
        #: bumped at every container added: threads placed before are placed again
        self.generation = 0
        #: read other engines' state for their containers' names (live only: a capture's
        #: containers are described by its own events, not by this host's engines)
        self.read_engines = False
        # the cgroup2 mount, opened once, to resolve cgroup ids (`_by_handle`), and the ids
        # that resolved to no other engine's container (cgroup ids are never reused)
        self._cgroup2_fd: int | None = None
        self._cgroup2_mount = ""
        self._not_foreign: set[int] = set()
        self._pods: PodLabels | None = None  # the CRI socket's pod labels (live only)

    def watch_identities(self) -> None:
        """Read identity records as the runtime writes them (live sensors: identity_watch.py),
        so a container that ends before its events are looked at is still named."""
        if self._watch is None:
            from bastion.sensor.state.identity_watch import IdentityWatch

            self._watch = IdentityWatch(self.runtime_roots, read_identity)

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        if self._cgroup2_fd is not None:
            os.close(self._cgroup2_fd)
            self._cgroup2_fd = None
        if self._pods is not None:
            self._pods.close()
            self._pods = None

    def absorb(self) -> int:
        """Take in the records the watch read since the last call; how many were new."""
        if self._watch is None or not self._watch.news:
            return 0
        added = 0
        for identity in self._watch.take():
            self._gone_since.pop(identity.id, None)
            if identity.id not in self._bastion_ids:
                self._bastion_ids.add(identity.id)
                self._add_identity(identity)
                added += 1
        return added

    # ---------------------------------------------------------------- lookups
    def by_id(self, container_id: str) -> Container | None:
        return self._by_id.get(container_id)

    def by_cgroup_id(self, cgroup_id: int) -> Container | None:
        return self._by_cgroup_id.get(cgroup_id)

    def find_cgroup_id(self, cgroup_id: int) -> Container | None:
        """`by_cgroup_id`, rescanning the runtime roots on a miss: at once when a root has a
        new directory or an awaited identity record appeared (a container starting now must
        be named from its first syscall), else at most once per `rescan_interval` (a host
        cgroup id misses on every event)."""
        found = self._by_cgroup_id.get(cgroup_id)
        if found is None and cgroup_id and self.absorb():
            found = self._by_cgroup_id.get(cgroup_id)
        if found is None and cgroup_id and (self._clock() >= self._next_scan or self.changed()):
            self.refresh()
            found = self._by_cgroup_id.get(cgroup_id)
        if found is None and cgroup_id and self.read_engines:
            found = self._by_handle(cgroup_id)
        return found

    def _by_handle(self, cgroup_id: int) -> Container | None:
        """Another engine's container by its cgroup id (live): the cgroup's path from the id
        through a file handle (`_sys.handles`), so a process that exited before its events were
        evaluated is still placed, then named from the path and the engine's state."""
        if cgroup_id in self._not_foreign:
            return None
        if self._cgroup2_fd is None:
            mount = cgroups.cgroup2_mount(self.proc_root)
            if mount is None:
                self.read_engines = False  # a legacy-only host: no ids to resolve
                return None
            self._cgroup2_mount = mount
            self._cgroup2_fd = os.open(mount, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        from bastion._sys.handles import cgroup2_path_of_id

        path = cgroup2_path_of_id(self._cgroup2_fd, self._cgroup2_mount, cgroup_id)
        named = cgroups.engine_container(path) if path else None
        if path is None or named is None:
            if len(self._not_foreign) >= 65536:  # bounded: a host making cgroups all day
                self._not_foreign.clear()
            self._not_foreign.add(cgroup_id)
            return None
        kind, cid = named
        found = self._by_id.get(cid) or _merge(
            self._foreign(kind, cid, path), self._described.get(cid[:12])
        )
        return self.add(dataclasses.replace(found, cgroup_id=found.cgroup_id or cgroup_id))

    def changed(self) -> bool:
        """Whether a scan now could find a container the last one did not: a root's mtime
        moved, or an identity record the last scan waited for is there (a few stats)."""
        for root, mtime in self._root_mtimes.items():
            try:
                if os.stat(root).st_mtime_ns != mtime:
                    return True
            except OSError:
                return True
        return any(os.path.exists(path) for path in self._pending)

    def by_cgroups(self, paths: tuple[tuple[str, str], ...]) -> Container | None:
        """The container of a thread from its ``(controller, path)`` pairs: a known path
        first (bastion's own, on any controller), then an engine's naming style."""
        for _, path in paths:
            found = self._by_path.get(path)
            if found is not None:
                return found
        for _, path in paths:
            named = cgroups.engine_container(path)
            if named is not None:
                kind, cid = named
                found = self._by_id.get(cid)
                if found is None:
                    found = self._foreign(kind, cid, path)
                    found = self.add(_merge(found, self._described.get(cid[:12])))
                return found
        return None

    def _foreign(self, kind: str, cid: str, path: str) -> Container:
        """A container another engine made, named from that engine's state where it is
        readable (`engines`: once, when the container is first met), else by its short id."""
        said = engines.describe(kind, cid) if self.read_engines else None
        if said is None:
            return Container(id=cid, name=cid[:12], kind=kind, cgroup_path=path)
        return Container(
            id=cid,
            name=said.name or cid[:12],
            kind=kind,
            image=said.image,
            labels=dict(said.labels or {}),
            cgroup_path=path,
        )

    def _with_pod_labels(self, container: Container) -> Container:
        """A pod's container with its pod's labels, asked of the CRI socket once per pod."""
        sandbox = container.labels.get(POD_SANDBOX_LABEL)
        if not sandbox or container.pod_labels or not self.read_engines:
            return container
        if self._pods is None:
            from bastion.sensor.state.cri import PodLabels

            self._pods = PodLabels()
        labels = self._pods.get(sandbox)
        return dataclasses.replace(container, pod_labels=labels) if labels else container

    # ---------------------------------------------------------------- changes
    def add(self, container: Container) -> Container:
        """Insert or replace `container` under its id, cgroup id and cgroup path."""
        container = self._with_pod_labels(container)
        self.generation += 1
        old = self._by_id.get(container.id)
        if old is not None:
            self._unindex(old)
        self._by_id[container.id] = container
        if container.cgroup_id:
            self._by_cgroup_id[container.cgroup_id] = container
        if container.cgroup_path:
            self._by_path[container.cgroup_path] = container
        return container

    def describe(
        self,
        short_id: str,
        *,
        name: str = "",
        kind: str = "",
        image: str = "",
        image_id: str = "",
        labels: dict[str, str] | None = None,
        privileged: bool | None = None,
        image_repo: str = "",
        image_tag: str = "",
        image_digest: str = "",
        mounts: tuple[ContainerMount, ...] = (),
    ) -> Container:
        """What a container engine says about container `short_id` (a capture's ``container``
        event): kept for the container when its cgroup is met, applied now if it was.

        Returns the container as the table now holds it: the known one merged with what was
        said, or (none known yet) the description itself, added under its short id so that the
        event that described it reads it (libsinsp adds the container on this event too).
        """
        said = Container(
            id=short_id,
            name=name,
            kind=kind,
            image=image,
            image_id=image_id,
            labels=labels or {},
            privileged=privileged,
            image_repo=image_repo,
            image_tag=image_tag,
            image_digest=image_digest,
            mounts=mounts,
        )
        self._described[short_id[:12]] = said
        merged: Container | None = None
        for known in list(self._by_id.values()):
            if known.kind != "host" and known.id[:12] == short_id[:12]:
                merged = self.add(_merge(known, said))
        return merged if merged is not None else self.add(said)

    def remove(self, container_id: str) -> Container | None:
        old = self._by_id.pop(container_id, None)
        if old is not None:
            self._unindex(old)
            self._bastion_ids.discard(container_id)
        return old

    def _unindex(self, old: Container) -> None:
        if self._by_cgroup_id.get(old.cgroup_id) is old:
            del self._by_cgroup_id[old.cgroup_id]
        if self._by_path.get(old.cgroup_path) is old:
            del self._by_path[old.cgroup_path]

    def refresh(self) -> int:
        """Rescan the runtime roots: add new bastion containers, drop deleted ones.
        Returns how many were added."""
        self.scans += 1
        self._next_scan = self._clock() + self.rescan_interval
        seen: set[str] = set()
        added = 0
        self._pending = set()
        for root in self.runtime_roots:
            try:
                self._root_mtimes[root] = os.stat(root).st_mtime_ns
                entries = os.listdir(root)
            except OSError:
                continue
            for name in entries:
                if name in self._bastion_ids:  # a directory is named by its container's id
                    seen.add(name)
                    continue
                path = os.path.join(root, name, IDENTITY_FILE)
                identity = read_identity(path)
                if identity is None:
                    if not name.startswith(".") and os.path.isdir(os.path.join(root, name)):
                        self._pending.add(path)  # being created: its record comes soon
                    continue
                seen.add(identity.id)
                if identity.id in self._bastion_ids:
                    continue
                self._bastion_ids.add(identity.id)
                self._add_identity(identity)
                added += 1
            added += self._scan_gone(os.path.join(root, GONE_DIR))
        self.absorb()
        now = self._clock()
        for gone in self._bastion_ids - seen:
            since = self._gone_since.setdefault(gone, now)
            if now - since >= GONE_GRACE:
                self._gone_since.pop(gone, None)
                self._bastion_ids.discard(gone)
                self._forgotten.add(gone)  # its kept record must not bring it back
                self.remove(gone)
        for back in seen:
            self._gone_since.pop(back, None)
        return added

    def _scan_gone(self, gone: str) -> int:
        """The records bastion-runc keeps a minute after a `delete` (`<root>/.gone/<id>.json`):
        a container deleted before its events were evaluated is still named. They start their
        `GONE_GRACE` at once (their directory is gone)."""
        try:
            self._root_mtimes[gone] = os.stat(gone).st_mtime_ns
            names = os.listdir(gone)
        except OSError:
            return 0
        added = 0
        now = self._clock()
        self._forgotten &= {name.removesuffix(".json") for name in names}  # stays bounded
        for name in names:
            cid = name.removesuffix(".json")
            if cid in self._bastion_ids or cid in self._forgotten:
                continue
            identity = read_identity(os.path.join(gone, name))
            if identity is None or identity.id != cid:
                continue
            self._bastion_ids.add(cid)
            self._add_identity(identity)
            self._gone_since.setdefault(cid, now)
            added += 1
        return added

    def _add_identity(self, identity: ContainerIdentity) -> None:
        container = from_identity(identity, self.proc_root, self._ticks_to_ns)
        if identity.name == identity.id and self.read_engines:
            # bastion-runc under another engine that gave it no name (Podman passes none in
            # config.json): that engine's state names the container.
            named = cgroups.engine_container(identity.cgroup_path)
            said = engines.describe(named[0], identity.id) if named else None
            if said is not None:
                container = dataclasses.replace(
                    container,
                    name=said.name or container.name,
                    image=container.image or said.image,
                    labels=container.labels or dict(said.labels or {}),
                )
        container = self.add(container)
        for extra in identity.cgroup_ids[1:]:
            self._by_cgroup_id[extra] = container
        # cgroup v1 paths as /proc/PID/cgroup shows them, with and without the leading "/".
        if container.cgroup_path and not container.cgroup_path.startswith("/"):
            self._by_path["/" + container.cgroup_path] = container

    def __iter__(self) -> Iterator[Container]:
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)


def _merge(container: Container, said: Container | None) -> Container:
    """`container` (found by its cgroup) with what its engine said about it, if anything."""
    if said is None:
        return container
    return dataclasses.replace(
        container,
        name=said.name or container.name,
        kind=container.kind or said.kind,
        image=said.image or container.image,
        image_id=said.image_id or container.image_id,
        labels=said.labels or container.labels,
        privileged=said.privileged if said.privileged is not None else container.privileged,
        image_repo=said.image_repo or container.image_repo,
        image_tag=said.image_tag or container.image_tag,
        image_digest=said.image_digest or container.image_digest,
        mounts=said.mounts or container.mounts,
    )
