"""Events: the decoded `Event` every source produces and bastion's event table (`schema`)."""

from bastion.sensor.events.model import (
    Category,
    Direction,
    Event,
    ParamSpec,
    ParamType,
    SockAddr,
    SockTuple,
)

__all__ = ["Category", "Direction", "Event", "ParamSpec", "ParamType", "SockAddr", "SockTuple"]
