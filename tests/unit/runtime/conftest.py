"""Shared pieces of the runtime's unit tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bastion._record import replace
from bastion.runtime.state import ContainerState

MakeState = Callable[..., ContainerState]


@pytest.fixture
def saved() -> MakeState:
    """`saved(container_id="abc", **changes)`: a state as `create` first writes it."""

    def make(container_id: str = "abc", **changes: object) -> ContainerState:
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

    return make
