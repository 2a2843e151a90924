"""A bastion-runc state document made by hand, for tests that need one without a container."""

from __future__ import annotations

from typing import Any

from bastion._record import replace
from bastion.runtime.state import ContainerState


def saved_state(container_id: str = "abc", **changes: Any) -> ContainerState:
    """A state as `create` first writes it (paths and processes made up), with `changes`."""
    state = ContainerState(
        id=container_id,
        status="creating",
        bundle="/b",
        rootfs="/b/rootfs",
        creator_pid=1,
        creator_start=2,
        cgroup_path="/bastion/x",
        cgroup_preexisting=None,
        created="2026-01-01T00:00:00.000000000Z",
        owner="",
        annotations={},
        has_poststart=False,
        has_poststop=False,
        host_mounts=False,
    )
    return replace(state, **changes)
