"""v1 freezer controller: freezer.state (it has no resources to apply).

Freezing follows runc's fs/freezer.go: write FROZEN and read the state back until the kernel
leaves FREEZING, thawing now and then (v1 cannot freeze reliably while tasks keep forking); if it
never settles the cgroup is thawed again and `CgroupFreezeError` raised. Thawing is one write.
"""

from __future__ import annotations

import time

from bastion.runtime.cgroups import files
from bastion.runtime.cgroups.base import FreezerState
from bastion.runtime.cgroups.errors import CgroupFreezeError

NAME = "freezer"
_ATTEMPTS = 1000


def freeze(directory: str) -> None:
    """Freeze the cgroup `directory`; return once freezer.state reads FROZEN."""
    path = f"{directory}/freezer.state"
    try:
        for attempt in range(_ATTEMPTS):
            if attempt % 50 == 49:
                files.write(path, "THAWED")
                time.sleep(0.01)
            files.write(path, "FROZEN")
            if attempt % 25 == 24:
                time.sleep(0.00001)
            if files.read(path).strip() == "FROZEN":
                return
    except BaseException:
        files.write(path, "THAWED")
        raise
    files.write(path, "THAWED")
    raise CgroupFreezeError("the cgroup stayed FREEZING; thawed it back", where=path)


def thaw(directory: str) -> None:
    """Thaw the cgroup `directory`."""
    files.write(f"{directory}/freezer.state", "THAWED")


def state(directory: str) -> str:
    """The freezer state, "frozen" or "thawed" (a missing freezer.state counts as thawed)."""
    text = None
    for _ in range(_ATTEMPTS):  # FREEZING is transient: wait (at most ~1 s) for it to settle
        text = files.read_optional(f"{directory}/freezer.state")
        if text != "FREEZING":
            break
        time.sleep(0.001)
    return FreezerState.FROZEN if text == "FROZEN" else FreezerState.THAWED
