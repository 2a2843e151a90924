"""Cgroup paths and ids: which container engine made a cgroup, and a cgroup2 directory's id.

Engines name a container's cgroup after its 64-hex id, each in its own style (systemd
driver: ``<prefix>-<id>.scope``; cgroupfs driver: a directory named by the id under the
engine's parent). The probe reports the cgroup2 id, which is the inode number of the cgroup's
directory in the cgroup2 hierarchy (``bpf_get_current_cgroup_id()``); on a hybrid host that
hierarchy is mounted at ``/sys/fs/cgroup/unified``.
"""

from __future__ import annotations

import os
import re

# systemd-driver scopes and Podman's cgroupfs leaf: prefix -> engine kind.
_PREFIXED = re.compile(r"(docker|cri-containerd|crio|libpod)-([0-9a-f]{64})(?:\.scope)?")
_PREFIX_KIND = {
    "docker": "docker",
    "cri-containerd": "containerd",
    "crio": "cri-o",
    "libpod": "podman",
}
_BARE_ID = re.compile(r"[0-9a-f]{64}")


def engine_container(path: str) -> tuple[str, str] | None:
    """``(kind, id)`` of the container a cgroup path belongs to, or None for a host cgroup.

    The innermost matching component wins, so a container nested under a pod slice is
    named by its own scope, not by the pod's.
    """
    parts = [p for p in path.split("/") if p]
    for i in range(len(parts) - 1, -1, -1):
        part = parts[i]
        found = _PREFIXED.fullmatch(part)
        if found:
            return _PREFIX_KIND[found.group(1)], found.group(2)
        if _BARE_ID.fullmatch(part):
            if "docker" in parts[:i]:
                return "docker", part
            if any(p.startswith("kubepods") for p in parts[:i]):
                return "containerd", part
            if "libpod_parent" in parts[:i]:
                return "podman", part
    return None


def cgroup2_mount(proc_root: str = "/proc") -> str | None:
    """Where the cgroup2 hierarchy is mounted (``/sys/fs/cgroup`` or ``.../unified``)."""
    try:
        with open(f"{proc_root}/self/mountinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                # "... mountpoint options - fstype source superopts": fstype follows " - ".
                left, _, right = line.partition(" - ")
                if right.split(" ", 1)[0] == "cgroup2":
                    return left.split(" ")[4]
    except OSError:
        return None
    return None


def cgroup2_id(mount: str | None, path: str) -> int:
    """The cgroup2 id of `path` (relative to the cgroup2 root), 0 when it cannot be read."""
    if not mount:
        return 0
    try:
        return os.stat(mount + path if path != "/" else mount).st_ino
    except OSError:
        return 0


def v2_path(cgroups: tuple[tuple[str, str], ...]) -> str | None:
    """The cgroup2 path among a thread's ``(controller, path)`` pairs (controller "")."""
    for controller, path in cgroups:
        if not controller:
            return path
    return None
