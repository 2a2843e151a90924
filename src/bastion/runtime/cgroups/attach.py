"""Forking a child into a container's cgroup without waiting for an RCU grace period.

Writing a pid to `cgroup.procs` takes the kernel's cgroup_threadgroup_rwsem for writing, and the
first write of a burst waits for an RCU grace period (7-9 ms median on this kind of machine, up
to 28 ms; runc pays it too). Two moves avoid the write lock altogether:

- cgroup2 (unified hosts, and the `unified` hierarchy of hybrid ones): clone3 with
  CLONE_INTO_CGROUP creates the child inside the cgroup (`bastion._sys.clone`);
- cgroup v1: the child moves itself by writing `0` (itself) to each hierarchy's `tasks` file,
  which moves one thread and so needs no threadgroup lock; a forked child has one thread, so
  that moves the whole process.

`fork` returns, in the child, a `join` to call first thing under the child's error report; it
writes what the fork could not do. The fallbacks are the plain moves: `cgroup.procs` where
`tasks` or clone3 are refused (old kernels, no cgroup2 directory). The tests force them with
BASTION_TEST_CGROUP_ATTACH: `procs` (the parent writes every `cgroup.procs`, as before this
module) or `fork` (no clone3: the child also joins the cgroup2 hierarchy by `cgroup.procs`).
"""

from __future__ import annotations

import os
from errno import E2BIG, EINVAL, ENOSYS, EOPNOTSUPP, EPERM

ENV = "BASTION_TEST_CGROUP_ATTACH"
FORCE_PROCS = "procs"
FORCE_FORK = "fork"

# What clone3 answers on kernels (or seccomp profiles) without CLONE_INTO_CGROUP.
_NO_CLONE3 = (ENOSYS, E2BIG, EINVAL, EOPNOTSUPP, EPERM)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from bastion.runtime.cgroups.base import Placement


def join_directories(v1: list[str], cgroup2: str | None) -> None:
    """Move the calling, single-threaded process into the cgroup directories `v1` (`0` to each
    `tasks`, `cgroup.procs` where that is refused) and `cgroup2` (`cgroup.procs`) if given."""
    from bastion.runtime.cgroups import files
    from bastion.runtime.cgroups.errors import CgroupError

    for directory in v1:
        try:
            files.write(f"{directory}/tasks", "0")
        except CgroupError:
            files.write(f"{directory}/cgroup.procs", "0")
    if cgroup2:
        files.write(f"{cgroup2}/cgroup.procs", "0")


class Recorded:
    """A container's cgroup as state.json records it (its directories, which one is cgroup2):
    all `fork` needs, so `exec` places its process without a manager or the mount table."""

    def __init__(self, directories: list[str], cgroup2: str | None) -> None:
        self._v1 = [d for d in directories if d != cgroup2]
        self._cgroup2 = cgroup2

    def v2_directory(self) -> str | None:
        return self._cgroup2

    def join(self, *, cgroup2: bool) -> None:
        join_directories(self._v1, self._cgroup2 if cgroup2 else None)

    def join_targets(self) -> tuple[list[str], str | None]:
        return list(self._v1), self._cgroup2

    def add(self, pid: int) -> None:
        from bastion.runtime.cgroups import files

        for directory in [*self._v1, *([self._cgroup2] if self._cgroup2 else [])]:
            files.write(f"{directory}/cgroup.procs", str(pid))


def fork(manager: Placement, namespaces: int = 0) -> tuple[int, Callable[[], None]]:
    """Fork a child that ends in `manager`'s cgroup in every hierarchy.

    The parent gets (pid, a no-op), the `procs` fallback done. The child gets (0, join): it
    must call join() before anything that depends on its cgroup (forking the init included)
    and report join's errors to the parent; the parent's own errors leave no child behind.
    With `namespaces` (CLONE_NEW* flags), the child is also born in new namespaces of those
    types, which only clone3 can do: OSError, with no child made, where it cannot.
    """
    forced = os.environ.get(ENV, "")
    if forced == FORCE_PROCS:
        pid = _clone(namespaces) if namespaces else os.fork()
        if pid == 0:
            return 0, _nothing
        try:
            manager.add(pid)
        except BaseException:
            _kill_and_reap(pid)
            raise
        return pid, _nothing
    pid, in_cgroup2 = _fork_into(manager.v2_directory(), forced != FORCE_FORK, namespaces)
    if pid == 0:
        return 0, lambda: manager.join(cgroup2=not in_cgroup2)
    return pid, _nothing


def _fork_into(directory: str | None, clone3: bool, namespaces: int) -> tuple[int, bool]:
    """(pid, whether the child was born in `directory`)."""
    if clone3 and directory is not None:
        try:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            fd = -1
        if fd >= 0:
            try:
                return _clone(namespaces, fd), True
            except OSError as exc:
                if exc.errno not in _NO_CLONE3:
                    raise
            finally:
                os.close(fd)
    if namespaces:
        return _clone(namespaces), False
    return os.fork(), False


def _clone(namespaces: int, cgroup_fd: int = -1) -> int:
    from bastion._sys.clone import clone

    return clone(namespaces, cgroup_fd)


def _nothing() -> None:
    pass


def _kill_and_reap(pid: int) -> None:
    from bastion._sys.proc import kill_and_reap

    kill_and_reap(pid)
