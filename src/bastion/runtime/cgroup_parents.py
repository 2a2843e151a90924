"""The parent cgroups `create` makes on the way to a container's own (e.g. "/bastion" for the
first container), and their removal by `delete` once nothing uses them any more.

Which parents bastion made is kept in `<root>/.cgroup-parents`, one cgroup path per line:
`create` appends the shallowest ancestor that exists in no hierarchy *before* it makes any
directory (so a create killed half way leaves the record of what it may have made), and
`delete` removes the empty ancestors of its cgroup up to the shallowest recorded one, whichever
container's create made it. A cgroup bastion did not make is never removed. rmdir of a parent
that still holds another cgroup fails with EBUSY, which ends the walk: the delete of the last
container under it removes it.

Built-in modules only (`posix`, not `os`): the lean `delete` (lean.py) calls `remove_empty`
before anything has imported `os`.
"""

from __future__ import annotations

import fcntl
import posix

from bastion.runtime.lean import CGROUP_PARENTS_FILE as REGISTRY

_SEEK_SET, _SEEK_END = 0, 2  # os.SEEK_*: posix has the calls, os the names


def record_missing(root: str, path: str) -> bool:
    """Before making cgroup `path`: note in `root`'s registry the first parent it will make;
    False if it makes none."""
    top = _first_missing(path, _mounts())
    if top is None:
        return False
    fd = _open_locked(root)
    try:
        posix.lseek(fd, 0, _SEEK_END)
        posix.write(fd, f"{top}\n".encode())
    finally:
        posix.close(fd)
    return True


def remove_empty(root: str, path: str, mounts: list[str] | None = None) -> None:
    """After removing cgroup `path`: rmdir its ancestors, deepest first, up to the shallowest
    one the registry names, in every hierarchy; stop at the first one still in use.

    `mounts` are the hierarchies' mount points when the caller knows them (the delete of a
    container whose create recorded its directories in them): then no mount table is read."""
    try:
        fd = _open_locked(root, create=False)
    except FileNotFoundError:
        return
    try:
        recorded = _read(fd)
        if mounts is None:
            mounts = _mounts()
        tops = [top for top in recorded if path.startswith(top + "/")]
        if tops:
            _remove_up_to(path, min(tops, key=len), mounts)
        # Forget the parents that are gone (ours, or another delete's that lost a race). This
        # runs even when nothing matched: a create killed between opening the registry and
        # writing its line leaves an empty file, which must not outlive the container.
        left = [p for p in recorded if any(_isdir(m + p) for m in mounts)]
        if not left:  # under the lock; a writer that opened it first checks st_nlink
            posix.unlink(f"{root}/{REGISTRY}")
        elif left != recorded:
            posix.ftruncate(fd, 0)
            posix.lseek(fd, 0, _SEEK_SET)
            posix.write(fd, "".join(f"{p}\n" for p in left).encode())
    finally:
        posix.close(fd)


def _remove_up_to(path: str, top: str, mounts: list[str]) -> None:
    current = path.rstrip("/").rpartition("/")[0]
    while current == top or current.startswith(top + "/"):
        if not _rmdir_everywhere(current, mounts):
            return
        current = current.rpartition("/")[0]


def _mounts() -> list[str]:
    """The hierarchies the managers make cgroups in (not named ones such as systemd's)."""
    from bastion.runtime.cgroups.detect import layout  # here: a delete may pass its own

    found = layout()
    mounts = {
        m.rstrip("/") for name, m in found.controllers.items() if not name.startswith("name=")
    }
    if found.unified:
        mounts.add(found.unified.rstrip("/"))
    return sorted(mounts)


def _first_missing(path: str, mounts: list[str]) -> str | None:
    current = ""
    for part in path.strip("/").split("/")[:-1]:
        current += "/" + part
        if not any(_isdir(mount + current) for mount in mounts):
            return current
    return None


def _rmdir_everywhere(cgroup: str, mounts: list[str]) -> bool:
    for mount in mounts:
        try:
            posix.rmdir(mount + cgroup)
        except FileNotFoundError:
            pass
        except OSError:  # EBUSY: another cgroup (or a process) is still in it
            return False
    return True


def _open_locked(root: str, *, create: bool = True) -> int:
    """The registry, open and locked; one a `remove_empty` unlinked meanwhile is opened anew."""
    flags = posix.O_RDWR | posix.O_CLOEXEC | (posix.O_CREAT if create else 0)
    while True:
        fd = posix.open(f"{root}/{REGISTRY}", flags, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if posix.fstat(fd).st_nlink:
            return fd
        posix.close(fd)


def _read(fd: int) -> list[str]:
    chunks = []
    while chunk := posix.read(fd, 65536):
        chunks.append(chunk)
    return [line for line in b"".join(chunks).decode().splitlines() if line]


def _isdir(path: str) -> bool:
    """`os.path.isdir` (symlinks followed: v1 hierarchies are often reached through one)."""
    try:
        return posix.stat(path).st_mode & 0o170000 == 0o040000
    except OSError:
        return False
