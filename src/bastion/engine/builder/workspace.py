"""A build's scratch directory, `<engine root>/build/<id>/`: the steps' overlays (`step-*/fs`),
the RUN bundles (named by their container's id, `build-<hex>`), the `--from` mounts.

The build holds an flock on it while it runs. A build that was killed (SIGKILL, a crash) left
its directory unlocked: the next build sweeps it, killing and deleting a RUN container still in
the runtime, unmounting what is mounted under it, and removing it, so nothing it made stays
mounted, running or in a cgroup.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal

#: The prefix of a RUN step's container id and bundle directory.
RUN_PREFIX = "build-"


class Workspace:
    """A new scratch directory under `<root>/build/`, locked until `close`."""

    def __init__(self, root: str) -> None:
        parent = os.path.join(root, "build")
        os.makedirs(parent, mode=0o700, exist_ok=True)
        name = os.urandom(8).hex()
        # made and locked under a dot name `sweep` ignores, then renamed (the lock is the
        # inode's): a sweep never sees it unlocked
        hidden = os.path.join(parent, "." + name)
        os.mkdir(hidden, 0o700)
        self._lock = os.open(hidden, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.path = os.path.join(parent, name)
        os.rename(hidden, self.path)

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._lock)


def sweep(root: str, runtime_root: str) -> list[str]:
    """Remove what killed builds left under `<root>/build/` (see the module docstring); the
    directories removed."""
    parent = os.path.join(root, "build")
    try:
        names = os.listdir(parent)
    except FileNotFoundError:
        return []
    removed = []
    for name in names:
        if name.startswith("."):
            continue  # a workspace being made (see `Workspace`)
        path = os.path.join(parent, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # a live build
        try:
            for entry in os.listdir(path):
                if entry.startswith(RUN_PREFIX):
                    _delete_container(runtime_root, entry)
            _unmount_under(path)
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        finally:
            os.close(fd)
    return removed


def _delete_container(runtime_root: str, container_id: str) -> None:
    from bastion.runtime.container import Container
    from bastion.runtime.errors import ContainerNotFound

    with contextlib.suppress(ContainerNotFound):
        container = Container.load(runtime_root, container_id)
        with contextlib.suppress(Exception):
            container.kill(signal.SIGKILL)
        container.delete(force=True)


def _unmount_under(path: str) -> None:
    from bastion._sys.mount import MNT_DETACH, umount2

    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    prefix = path.rstrip("/") + "/"
    for point in sorted((p for p in points if p.startswith(prefix)), reverse=True):
        with contextlib.suppress(OSError):
            umount2(point, MNT_DETACH)
