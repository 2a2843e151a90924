"""State tables: threads, file descriptors, containers, users, built from /proc and events.

`SensorState` is the facade the rest of the sensor uses: ``apply(event)`` per event, lookups
for field getters. One module per concern: `threads` (the bounded table), `fds` (fd kinds,
names, the per-process bound), `containers` and `cgroups` (who a cgroup belongs to),
`users`, `procfs`/`procnet` (initial state), `scap_seed` (replay), `apply` with the
`on_*` handler modules (one per event family). Must not import bastion.runtime.
"""

from bastion.sensor.state.containers import ContainerTable
from bastion.sensor.state.model import (
    HOST_CONTAINER,
    Container,
    Fd,
    FdType,
    Group,
    Thread,
    User,
)
from bastion.sensor.state.sensor_state import SensorState
from bastion.sensor.state.threads import ThreadTable
from bastion.sensor.state.users import UserTable

__all__ = [
    "HOST_CONTAINER",
    "Container",
    "ContainerTable",
    "Fd",
    "FdType",
    "Group",
    "SensorState",
    "Thread",
    "ThreadTable",
    "User",
    "UserTable",
]
