"""Version-independent work on a cgroup directory subtree: list its pids, signal them, remove it.

Both managers use these on each of their leaf directories (one per v1 hierarchy, plus the unified
one on hybrid hosts). Removal follows runc's `cgroups.RemovePath`: children before parents, retrying
`rmdir` while the kernel still reports EBUSY (processes that got SIGKILL take a moment to leave).
"""

from __future__ import annotations

import os
import time
from errno import EBUSY, ENOENT, ESRCH

from bastion.runtime.cgroups import files
from bastion.runtime.cgroups.base import FreezerState
from bastion.runtime.cgroups.errors import CgroupBusyError, CgroupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.runtime.cgroups.base import CgroupManager

# signal(7). Not `import signal`: it imports `enum` (7 ms, docs/architecture.md "The fast path").
SIGKILL = 9

# destroy() waits this long in total for SIGKILLed processes to leave before giving up.
REMOVE_TIMEOUT = 1.0
_RETRY_SLEEP = 0.01


def subtree(top: str) -> list[str]:
    """`top` and every cgroup below it, children before their parents; none if `top` is gone."""
    if not os.path.isdir(top):
        return []
    return [root for root, _dirs, _files in os.walk(top, topdown=False)]


def pids(tops: list[str]) -> list[int]:
    """The sorted union of the pids in the subtrees of `tops`."""
    found: set[int] = set()
    for top in tops:
        for directory in subtree(top):
            found.update(files.read_pids(directory + "/cgroup.procs"))
    return sorted(found)


def signal(pids: list[int], sig: int) -> None:
    """Send `sig` to each pid; processes that already exited are skipped."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError as exc:
            if exc.errno != ESRCH:
                raise CgroupError(
                    f"cannot send signal {sig} to pid {pid}: {exc.strerror}",
                    reference="cgroup-kill-failed",
                ) from None


def signal_all(manager: CgroupManager, sig: int) -> None:
    """Freeze, send `sig` to every pid, thaw: runc's signalAllProcesses, so that nothing forks
    away meanwhile. Without a freezer the pids are signalled anyway. A cgroup that was frozen
    before stays frozen, unless the signal is SIGKILL (frozen v1 tasks cannot die)."""
    was_frozen = manager.state() == FreezerState.FROZEN
    froze = False
    if not was_frozen:
        try:
            manager.freeze()
            froze = True
        except CgroupError:
            pass
    try:
        signal(manager.pids(), sig)
    finally:
        if froze or (was_frozen and sig == SIGKILL):
            manager.thaw()


def remove(tops: list[str], timeout: float = REMOVE_TIMEOUT) -> None:
    """rmdir the subtrees of `tops` (deepest first), retrying on EBUSY until `timeout` passes.

    Directories that are already gone are fine, so removing twice is harmless.
    """
    deadline = time.monotonic() + timeout
    for top in tops:
        for directory in subtree(top):
            _rmdir(directory, deadline)


def _rmdir(directory: str, deadline: float) -> None:
    while True:
        try:
            os.rmdir(directory)
            return
        except OSError as exc:
            if exc.errno == ENOENT:
                return
            if exc.errno != EBUSY:
                raise CgroupError(
                    f"cannot remove the cgroup: {exc.strerror}",
                    where=directory,
                    reference="cgroup-remove-failed",
                ) from None
        if time.monotonic() >= deadline:
            left = files.read_pids(directory + "/cgroup.procs")
            raise CgroupBusyError(
                f"still busy after SIGKILL (pids {left})",
                where=directory,
                hint="a process in D state or a child cgroup keeps it; retry the delete",
            )
        time.sleep(_RETRY_SLEEP)


def make(mount: str, path: str) -> bool:
    """mkdir `path` and its missing parents under the hierarchy `mount`; True if the leaf was
    made by this call, False if it existed."""
    current, made = mount.rstrip("/"), False
    for part in path.strip("/").split("/"):
        current = f"{current}/{part}"
        made = files.mkdir(current)
    return made
