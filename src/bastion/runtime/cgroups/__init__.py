"""Container cgroups: create, limit, freeze, signal, measure and remove them (v1, hybrid, v2).

`open_manager(path)` returns the host's `CgroupManager` (chosen once per process by `detect`),
and `resolve_cgroups_path` turns a config's `linux.cgroupsPath` into the absolute path it takes;
containers live under "/bastion" unless the config names an absolute path. Modules: `detect`
(mode, manager choice, paths), `mounts` (mountinfo), `files` (the only file I/O), `tree` (pids,
signals, removal), `base` (Protocols, stats), `errors`, and `v1/`, `v2/` with one module per
controller; `common/` holds what both drivers use (v1 and v2 never import each other).

On bastion-runc's start-up path: imports nothing heavy (no typing, re, json, enum, signal,
pathlib), never `bastion.sensor`, and only the manager the host needs.
"""

from __future__ import annotations

from bastion.runtime.cgroups.base import CgroupStats
from bastion.runtime.cgroups.detect import detect, open_manager, resolve_cgroups_path
from bastion.runtime.cgroups.errors import CgroupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.runtime.cgroups.base import CgroupManager

__all__ = ["CgroupError", "CgroupStats", "detect", "open_manager", "resolve_cgroups_path"]
if TYPE_CHECKING:
    __all__ += ["CgroupManager"]
