"""v1 devices controller: devices.deny and devices.allow.

The rules are written in the order given, after a reset to deny-all (`devices.deny "a"`), the way
runc's v1 emulator ends up for a spec that starts with a deny-all rule. A rule of type "a" (or no
type) is a reset, as in runc's emulator and in the kernel (devcgroup_update_access): allow → allow
everything, deny → deny everything, whatever its major/minor/access. Other rules become
"<type> <major|*>:<minor|*> <access>". No rules at all leaves the cgroup untouched (an update
without devices must not cut a running container off its devices).
"""

from __future__ import annotations

from bastion.runtime.cgroups import files
from bastion.runtime.cgroups.errors import CgroupInvalidValueError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxDeviceCgroup, LinuxResources

NAME = "devices"


def wanted(resources: LinuxResources) -> bool:
    """Whether `resources` has device rules."""
    return bool(resources.devices)


def rule_text(rule: LinuxDeviceCgroup, index: int) -> str:
    """The line the kernel reads for one rule; "a" for a reset."""
    kind = rule.type or "a"
    if kind == "a":
        return "a"
    access = rule.access or "rwm"
    if kind not in ("b", "c") or not access or set(access) - set("rwm"):
        raise CgroupInvalidValueError(
            f"device rule type {kind!r} access {access!r}: expected type a, b or c and "
            "access made of r, w, m",
            where=f"linux.resources.devices[{index}]",
        )
    major = "*" if rule.major is None or rule.major < 0 else str(rule.major)
    minor = "*" if rule.minor is None or rule.minor < 0 else str(rule.minor)
    return f"{kind} {major}:{minor} {access}"


def check(resources: LinuxResources) -> None:
    """Refuse malformed rules before anything is written."""
    for index, rule in enumerate(resources.devices):
        rule_text(rule, index)


def apply(directory: str, resources: LinuxResources) -> None:
    """Reset the cgroup `directory` to deny-all, then write the rules in order."""
    if not resources.devices:
        return
    lines = [
        ("devices.allow" if rule.allow else "devices.deny", rule_text(rule, index))
        for index, rule in enumerate(resources.devices)
    ]
    files.write(f"{directory}/devices.deny", "a")
    for name, text in lines:
        files.write(f"{directory}/{name}", text)
