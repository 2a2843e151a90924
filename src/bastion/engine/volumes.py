"""Volumes: directories under `<engine root>/volumes/<name>/_data` (Docker's local driver
layout), recorded in the metadata's `volumes` table, mounted into containers by bind mounts.

- A named volume is made on first use (`-v NAME:/dst`) or by `volume create`; an anonymous one
  (`-v /dst`, the image's `Volumes`) gets a random 64-hex name and belongs to its container:
  `rm -v` and `run --rm` remove it with the container.
- Copy-up, as Docker (moby copyExistingContents): when a container is first started, each of
  its volumes that is empty gets the image's content at the destination (not with `nocopy`).
  That happens in `start`, once the container's overlay is mounted, from the merged view; the
  destination is resolved inside the container's root (its symlinks cannot lead out) and the
  copy never follows a symlink (`runtime.init.copyup`).
- A volume that any container mounts, running or not, cannot be removed
  (`VolumeInUseError`); the check and the delete are one transaction.
- `--volumes-from CONTAINER[:ro|rw]` gives a new container the other one's volumes and bind
  mounts at the same destinations (not its tmpfs), read-only when either the source mount or
  the mode says so, with no copy-up (moby registerMountPoints); its own `-v`/`--mount` at the
  same destination wins.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time

from bastion import jsonio
from bastion._record import record
from bastion._sys.tree import remove_tree
from bastion.engine.errors import EngineError, NoSuchVolumeError, VolumeInUseError
from bastion.engine.mount_flags import BIND, TMPFS, VOLUME, check_volume_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bastion.engine.metadata import ContainerRecord, Metadata
    from bastion.engine.mount_flags import MountRequest

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@record
class VolumeRecord:
    name: str
    created: float
    mountpoint: str
    labels: dict[str, str] = {}  # noqa: RUF012 (a record copies it for each instance)
    anonymous: bool = False


class Volumes:
    """The volumes of the engine rooted at `root`."""

    def __init__(self, root: str, metadata: Metadata) -> None:
        self.directory = os.path.join(root, "volumes")
        self.metadata = metadata

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name, "_data")

    def _record(self, row: tuple[Any, ...]) -> VolumeRecord:
        return VolumeRecord(
            name=row[0],
            created=row[1],
            mountpoint=self.path(row[0]),
            labels=jsonio.loads(row[2]),
            anonymous=bool(row[3]),
        )

    def records(self) -> list[VolumeRecord]:
        rows = self.metadata.query("SELECT * FROM volumes ORDER BY name")
        return [self._record(row) for row in rows]

    def get(self, name: str) -> VolumeRecord:
        rows = self.metadata.query("SELECT * FROM volumes WHERE name = ?", (name,))
        if not rows:
            raise NoSuchVolumeError(
                f"no such volume: {name}", hint="`bastion volume ls` lists the volumes"
            )
        return self._record(rows[0])

    def create(
        self, name: str | None = None, *, labels: dict[str, str] | None = None
    ) -> tuple[VolumeRecord, bool]:
        """The volume `name` (a new anonymous one when None), made if missing; and whether
        this call made it. An existing volume is returned as is (`docker volume create`)."""
        anonymous = name is None
        if name is None:
            name = os.urandom(32).hex()  # secrets.token_hex's source, without its import
        else:
            check_volume_name(name)
        data = self.path(name)
        os.makedirs(os.path.dirname(data), mode=0o700, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(data, 0o755)
        with self.metadata.write() as db:
            made = db.execute(
                "INSERT OR IGNORE INTO volumes VALUES (?, ?, ?, ?)",
                (name, time.time(), jsonio.dumps(labels or {}), int(anonymous)),
            ).rowcount
        return self.get(name), bool(made)

    def users(self, name: str) -> list[str]:
        """The names of the containers that mount the volume `name`."""
        return [c.name for c in self.metadata.containers() if name in volume_names(c)]

    def remove(self, name: str) -> None:
        """Remove the volume and its data; refused while a container mounts it."""
        with self.metadata.write() as db:
            self.get(name)
            users = self.users(name)
            if users:
                raise VolumeInUseError(
                    f"volume {name} is in use by the container(s) {', '.join(users)}",
                    hint="remove the container(s) first",
                )
            db.execute("DELETE FROM volumes WHERE name = ?", (name,))
        remove_tree(os.path.join(self.directory, name), ignore_errors=True)

    def prune(self, *, all: bool = False) -> dict[str, int]:
        """Remove the volumes no container mounts: the anonymous ones, or every one with
        `all` (Docker 23's `volume prune [-a]`). Returns their names and the bytes freed."""
        from bastion.engine.engine import _tree_size  # the engine's one size walk

        removed = {}
        for volume in self.records():
            if (all or volume.anonymous) and not self.users(volume.name):
                size = _tree_size(volume.mountpoint)
                with contextlib.suppress(VolumeInUseError, NoSuchVolumeError):
                    self.remove(volume.name)
                    removed[volume.name] = size
        return removed

    def remove_anonymous(self, record: ContainerRecord) -> None:
        """The anonymous volumes of `record` (removed itself already) that nothing else uses."""
        for mount in record.config.get("mounts", ()):
            if mount.get("anonymous"):
                with contextlib.suppress(VolumeInUseError, NoSuchVolumeError):
                    self.remove(mount["name"])

    # --- a container's mounts ---------------------------------------------------------------

    def prepare(self, requests: list[MountRequest]) -> tuple[list[dict[str, Any]], list[str]]:
        """The mounts of a new container, as saved in its record (the volumes made when
        missing), and the names of the volumes this call made (to remove if create fails)."""
        mounts: list[dict[str, Any]] = []
        made: list[str] = []
        try:
            for request in requests:
                mount: dict[str, Any] = {
                    "type": request.type,
                    "destination": request.target,
                    "read_only": request.read_only,
                    "propagation": request.propagation if request.type == BIND else "",
                    "flag": request.flag,
                    "spec": request.spec,
                }
                if request.type == VOLUME:
                    volume, new = self.create(request.source or None)
                    if new:
                        made.append(volume.name)
                    mount.update(
                        name=volume.name,
                        source=volume.mountpoint,
                        anonymous=volume.anonymous,
                        nocopy=request.nocopy,
                    )
                elif request.type == TMPFS:
                    mount.update(source="tmpfs", options=list(request.options))
                else:
                    mount.update(source=request.source)
                mounts.append(mount)
        except BaseException:
            self.discard(made)
            raise
        return mounts, made

    def check_present(self, mounts: list[dict[str, Any]]) -> None:
        """After the container's record is in: its volumes still exist. A `volume rm` that
        committed between `prepare` and that insert would otherwise leave it mounting a removed
        volume; one that comes later sees the container as a user and is refused."""
        for mount in mounts:
            if mount["type"] == VOLUME:
                self.get(mount["name"])

    def discard(self, names: list[str]) -> None:
        """Remove volumes a failed create made (nothing half made)."""
        for name in names:
            with contextlib.suppress(EngineError), self.metadata.write() as db:
                db.execute("DELETE FROM volumes WHERE name = ?", (name,))
            remove_tree(os.path.join(self.directory, name), ignore_errors=True)

    def populate(self, mounts: list[dict[str, Any]], rootfs: str) -> None:
        """Docker's copy-up, at a container's first start: each of its volumes that is empty
        gets the image's content at its destination (`rootfs` is the container's mounted
        root)."""
        for mount in mounts:
            if mount["type"] != VOLUME or mount.get("nocopy"):
                continue
            try:
                volume = self.get(mount["name"])
            except NoSuchVolumeError:
                raise EngineError(
                    f"the volume {mount['name']} of {mount['destination']} was removed",
                    hint="remove the container, or create the volume again",
                ) from None
            holder = os.open(os.path.dirname(volume.mountpoint), _DIR)
            try:
                fcntl.flock(holder, fcntl.LOCK_EX)  # two first starts at once copy once
                _copy_up(rootfs, mount["destination"], volume.mountpoint)
            finally:
                os.close(holder)


def parse_volumes_from(text: str) -> tuple[str, bool | None]:
    """`CONTAINER[:ro|rw]`: the container, and True/False for `ro`/`rw` (None: as the source's
    mounts are)."""
    name, sep, mode = text.rpartition(":")
    if not sep:
        return text, None
    if mode not in ("ro", "rw") or not name:
        from bastion.engine.errors import InvalidOptionError

        raise InvalidOptionError(
            f"invalid --volumes-from {text!r}: the mode must be ro or rw",
            hint="write CONTAINER, CONTAINER:ro or CONTAINER:rw",
        )
    return name, mode == "ro"


def inherited_mounts(
    source: ContainerRecord, read_only: bool | None, own: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The mounts `--volumes-from` takes from `source` for a container whose own mounts are
    `own` (which keep their destinations)."""
    taken = {mount["destination"] for mount in own}
    out = []
    for mount in source.config.get("mounts", ()):
        if mount["type"] not in (VOLUME, BIND) or mount["destination"] in taken:
            continue
        copy = {**mount, "flag": "--volumes-from", "spec": source.name}
        copy["read_only"] = bool(mount.get("read_only")) or bool(read_only)
        if mount["type"] == VOLUME:
            copy["nocopy"] = True  # its content is the source's: moby's CopyData=false
        out.append(copy)
    return out


def volume_names(record: ContainerRecord) -> set[str]:
    return {m["name"] for m in record.config.get("mounts", ()) if m.get("type") == VOLUME}


def _copy_up(rootfs: str, destination: str, data: str) -> None:
    from bastion.runtime.init.copyup import copy_tree

    source = _open_in_root(rootfs, destination)
    if source is None:
        return
    target = os.open(data, _DIR)
    try:
        if os.listdir(target):
            return  # not empty: Docker copies into empty volumes only
        st = os.fstat(source)
        copy_tree(source, target)
        os.fchown(target, st.st_uid, st.st_gid)
        os.fchmod(target, stat.S_IMODE(st.st_mode))
    finally:
        os.close(source)
        os.close(target)


def _open_in_root(root: str, path: str) -> int | None:
    """An fd of the directory `path` inside `root`, symlinks resolved as if `root` were /
    (a link cannot lead out); None when it is missing or not a directory."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    fd = os.open(root, _DIR)
    stack = [fd]
    hops = 0
    try:
        while parts:
            name = parts.pop(0)
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            try:
                st = os.stat(name, dir_fd=stack[-1], follow_symlinks=False)
            except FileNotFoundError:
                return None
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > 40:
                    return None
                link = os.readlink(name, dir_fd=stack[-1])
                if link.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                parts = [p for p in link.split("/") if p not in ("", ".")] + parts
                continue
            if not stat.S_ISDIR(st.st_mode):
                return None
            stack.append(os.open(name, _DIR, dir_fd=stack[-1]))
        result = stack.pop()
        return result
    finally:
        for leftover in stack:
            os.close(leftover)


def document(volume: VolumeRecord) -> dict[str, Any]:
    """`docker volume inspect`'s document (API Volume)."""
    from bastion.engine.inspect import rfc3339

    return {
        "CreatedAt": rfc3339(volume.created).split(".")[0] + "Z",
        "Driver": "local",
        "Labels": volume.labels or None,
        "Mountpoint": volume.mountpoint,
        "Name": volume.name,
        "Options": None,
        "Scope": "local",
    }
