"""The v2 core freezer (cgroup.freeze, Linux 5.2+) and killer (cgroup.kill, Linux 5.14+).

Also used by the v1 manager on hybrid hosts, on its directory in the unified hierarchy.
Freezing writes "1" and polls cgroup.events until it says "frozen 1", as runc's fs2/freezer.go;
on timeout the cgroup is thawed back and `CgroupFreezeError` raised.
"""

from __future__ import annotations

import time
from errno import ENOENT

from bastion.runtime.cgroups import files
from bastion.runtime.cgroups.base import FreezerState
from bastion.runtime.cgroups.errors import CgroupFileError, CgroupFreezeError

_POLL = 0.01
_TIMEOUT = 10.0


def supported(directory: str) -> bool:
    """Whether the cgroup `directory` has cgroup.freeze."""
    return files.exists(f"{directory}/cgroup.freeze")


def freeze(directory: str) -> None:
    """Freeze the cgroup `directory`; return once cgroup.events says "frozen 1"."""
    files.write(f"{directory}/cgroup.freeze", "1")
    deadline = time.monotonic() + _TIMEOUT
    while files.read_keyed(f"{directory}/cgroup.events").get("frozen") != 1:
        if time.monotonic() >= deadline:
            files.write(f"{directory}/cgroup.freeze", "0")
            raise CgroupFreezeError(
                f"not frozen after {_TIMEOUT:.0f} s; thawed it back", where=directory
            )
        time.sleep(_POLL)


def thaw(directory: str) -> None:
    """Thaw the cgroup `directory`."""
    files.write(f"{directory}/cgroup.freeze", "0")


def state(directory: str) -> str:
    """The freezer state: "frozen" if cgroup.freeze says 1, else (or without it) "thawed"."""
    text = files.read_optional(f"{directory}/cgroup.freeze")
    return FreezerState.FROZEN if text == "1" else FreezerState.THAWED


def kill(directory: str) -> bool:
    """SIGKILL everything in the cgroup `directory` through cgroup.kill; False if the kernel has
    no cgroup.kill (the caller then signals pid by pid). A cgroup that is not there has nothing
    to kill (a `create` killed before it made it): True."""
    try:
        files.write(f"{directory}/cgroup.kill", "1")
    except CgroupFileError as exc:
        if exc.errno == ENOENT:
            return not files.exists(directory)
        raise
    return True
