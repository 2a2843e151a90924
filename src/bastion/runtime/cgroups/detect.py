"""Choosing the cgroup manager (once per process) and placing a container's cgroup.

`detect` reads the mount table once per cgroup root and caches the answer; `open_manager` hands
out the v1 manager on legacy and hybrid hosts and the v2 manager on unified ones, importing only
the one it needs. Nothing outside this module branches on the cgroup version
(docs/conventions.md §4).

Where containers go (`resolve_cgroups_path`): the runtime spec (config-linux.md "Cgroups path")
lets the runtime choose where a relative cgroupsPath lives and what to do without one. bastion puts
both under the absolute "/bastion" cgroup of every hierarchy, never inside the caller's own cgroup
the way runc does for relative paths: the caller may be a service whose cgroup it does not own
(and on cgroup v2 a cgroup with processes cannot have controller-enabled children).
"""

from __future__ import annotations

from bastion.runtime.cgroups.errors import CgroupPathError, SystemdCgroupUnsupportedError
from bastion.runtime.cgroups.mounts import MOUNTINFO, Layout, Mode, read_layout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.runtime.cgroups.base import CgroupManager

CGROUP_ROOT = "/sys/fs/cgroup"
DEFAULT_PARENT = "/bastion"

_layouts: dict[tuple[str, str], Layout] = {}


def layout(root: str = CGROUP_ROOT, *, mountinfo: str = MOUNTINFO) -> Layout:
    """The cgroup mounts under `root`, read once per process (per root) and cached."""
    key = (root, mountinfo)
    found = _layouts.get(key)
    if found is None:
        found = _layouts[key] = read_layout(root, mountinfo)
    return found


def detect(root: str = CGROUP_ROOT, *, mountinfo: str = MOUNTINFO) -> str:
    """The host's cgroup mode under `root`: "legacy", "hybrid" or "unified" (see `Mode`)."""
    return layout(root, mountinfo=mountinfo).mode


def open_manager(
    path: str, *, root: str = CGROUP_ROOT, mountinfo: str = MOUNTINFO
) -> CgroupManager:
    """The manager of cgroup `path` (absolute, as `resolve_cgroups_path` returns it)."""
    path = _check_absolute(path)
    found = layout(root, mountinfo=mountinfo)
    if found.mode == Mode.UNIFIED:
        from bastion.runtime.cgroups.v2.manager import V2Manager

        return V2Manager(path, root=found.unified or root)
    from bastion.runtime.cgroups.v1.manager import V1Manager

    return V1Manager(path, controllers=found.controllers, unified=found.unified)


def resolve_cgroups_path(cgroups_path: str | None, container_id: str) -> str:
    """The absolute cgroup path for a container's `linux.cgroupsPath`.

    None or "" → "/bastion/<id>"; an absolute path → itself, normalised; a relative path →
    "/bastion/<path>". ".." anywhere is rejected, as is the root cgroup itself. The systemd
    driver's "slice:prefix:name" form raises `SystemdCgroupUnsupportedError`.
    """
    if not cgroups_path:
        if not container_id or "/" in container_id:
            raise CgroupPathError(f"{container_id!r} cannot name a cgroup", where="container id")
        return _normalise(f"{DEFAULT_PARENT}/{container_id}", "container id")
    if not cgroups_path.startswith("/") and cgroups_path.count(":") == 2:
        raise SystemdCgroupUnsupportedError(
            "systemd cgroup driver is not supported; use cgroupfs paths",
            where="linux.cgroupsPath",
            hint=f"replace {cgroups_path!r} by a path such as '/bastion/{container_id}'",
        )
    if cgroups_path.startswith("/"):
        return _normalise(cgroups_path, "linux.cgroupsPath")
    return _normalise(f"{DEFAULT_PARENT}/{cgroups_path}", "linux.cgroupsPath")


def _normalise(path: str, where: str) -> str:
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise CgroupPathError(f"{path!r} must not contain '..'", where=where)
    if not parts:
        raise CgroupPathError("the root cgroup cannot hold a container", where=where)
    return "/" + "/".join(parts)


def _check_absolute(path: str) -> str:
    if not path.startswith("/"):
        raise CgroupPathError(f"{path!r} is not absolute", where="cgroup path")
    return _normalise(path, "cgroup path")
