"""The device cgroup rules every container gets, after the config's own.

Runs in the parent (`create` applies them with the other limits); the nodes themselves are made by
the init (`init/devices.py`).
"""

from __future__ import annotations

from bastion._record import replace
from bastion.oci.spec import LinuxDeviceCgroup, LinuxResources

# Device cgroup rules every container gets after the config's own (runc's AllowedDevices): the
# default nodes above, ptys and tun, and mknod of anything (using a node still needs r/w rules).
_DEFAULT_RULES: tuple[tuple[str, int | None, int | None, str], ...] = (
    ("c", None, None, "m"),
    ("b", None, None, "m"),
    ("c", 1, 3, "rwm"),
    ("c", 1, 8, "rwm"),
    ("c", 1, 7, "rwm"),
    ("c", 5, 0, "rwm"),
    ("c", 1, 5, "rwm"),
    ("c", 1, 9, "rwm"),
    ("c", 5, 1, "rwm"),
    ("c", 136, None, "rwm"),
    ("c", 5, 2, "rwm"),
    ("c", 10, 200, "rwm"),
)


def with_default_device_rules(resources: LinuxResources | None) -> LinuxResources:
    """`resources` with the default device rules appended, and the config's own devices allowed."""
    rules = [
        LinuxDeviceCgroup(allow=True, type=t, major=ma, minor=mi, access=acc)
        for t, ma, mi, acc in _DEFAULT_RULES
    ]
    if resources is None:
        return LinuxResources(devices=(LinuxDeviceCgroup(allow=False, access="rwm"), *rules))
    return replace(resources, devices=(*resources.devices, *rules))
