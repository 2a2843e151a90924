"""`IpAddress`: the address type of socket addresses, tuples (events) and socket fds (state).

Its own module so that `bastion.sensor.state.model` needs nothing else of the events package
(events/model.py refers to the state's `Thread` and `Fd`: one direction only, no cycle).
"""

from __future__ import annotations

import ipaddress
from typing import TypeAlias

IpAddress: TypeAlias = "ipaddress.IPv4Address | ipaddress.IPv6Address"
