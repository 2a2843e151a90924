"""The spec's `unified` map: raw cgroup v2 files written as given (config-linux.md "Unified").

A key must be a plain file name of the cgroup ("memory.high", "cgroup.freeze"): keys with "/",
".." or a leading "." are refused, so a config cannot write outside its cgroup. A multi-line value
is written one line per write (runc's WriteFileByLine), since files such as io.max take one entry
per write. The controller a key belongs to is what precedes its first dot.
"""

from __future__ import annotations

from bastion.runtime.cgroups import files
from bastion.runtime.cgroups.errors import CgroupInvalidValueError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import LinuxResources


def keys(resources: LinuxResources) -> list[str]:
    """The validated keys of `resources.unified`, sorted."""
    found = sorted(resources.unified or {})
    for key in found:
        if not key or "/" in key or ".." in key or key.startswith(".") or "\0" in key:
            raise CgroupInvalidValueError(
                f"unified key {key!r} must be a cgroup file name such as 'memory.high'",
                where=f"linux.resources.unified[{key!r}]",
            )
    return found


def controllers(resources: LinuxResources) -> set[str]:
    """The controllers the unified keys belong to ("cgroup" is the core, not a controller)."""
    return {key.partition(".")[0] for key in keys(resources)} - {"cgroup"}


def apply(directory: str, resources: LinuxResources) -> None:
    """Write each unified key's value into the cgroup `directory`, line by line."""
    unified = resources.unified or {}
    for key in keys(resources):
        lines = [line for line in unified[key].split("\n") if line] or [""]
        for line in lines:
            files.write(f"{directory}/{key}", line)
