"""Crash points: where the tests make `create` SIGKILL itself, to prove a half-made container is
always removable (tests/integration/test_runtime_crash.py sweeps them).

BASTION_TEST_CRASH_AT=<point> kills the process at that point; the points, in `create`'s order:
    state      the state directory exists (status "creating"), no cgroup yet
    cgroup-v1  (hybrid hosts) the cgroup exists in the v1 hierarchies, not yet in the unified one
    cgroup     the cgroup exists everywhere, no process in it
    fork       the intermediate exists (born in the cgroup v2, joining v1), no init yet maybe
    mounts     the init built the rootfs and waits for "continue"
"""

from __future__ import annotations

import os

_SIGKILL = 9


def armed() -> bool:
    """Whether a test asked for a crash point in this process."""
    return bool(os.environ.get("BASTION_TEST_CRASH_AT"))


def point(name: str) -> None:
    if os.environ.get("BASTION_TEST_CRASH_AT") == name:
        os.kill(os.getpid(), _SIGKILL)
