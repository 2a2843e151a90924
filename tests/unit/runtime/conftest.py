"""Shared pieces of the runtime's unit tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bastion.runtime.state import ContainerState
from bastion_testing.runtime_states import saved_state

MakeState = Callable[..., ContainerState]


@pytest.fixture
def saved() -> MakeState:
    """`saved(container_id="abc", **changes)`: a state as `create` first writes it."""
    return saved_state
