"""The engine as a whole: `system df`, `system prune`, `info`, `version`.

`system prune` runs the pruners of `PRUNERS` in order, after `repair` has put right what a
killed `bastion` left behind. A pruner is one `Engine` method: containers, networks, images,
then volumes only with `--volumes` (as Docker).
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bastion.engine.operations import container_size, disk_usage

if TYPE_CHECKING:
    from collections.abc import Callable

    from bastion.engine.engine import Engine

#: The API version fields `version` shows: none yet (no REST API; left for later).
#: The Docker Engine API version `bastion system service` speaks (bastion.api), and the oldest
#: it accepts: `version` reports them, the server negotiates with them.
API_VERSION = "1.41"
MIN_API_VERSION = "1.24"


@dataclass(frozen=True)
class PruneOptions:
    """`system prune`'s flags: without `all`, images are pruned of the dangling ones (untagged:
    a name moved to another image leaves one); `all` removes every image no container uses;
    `volumes` removes unused volumes."""

    all: bool = False
    volumes: bool = False


@dataclass
class Pruned:
    """What one pruner removed (names or ids) and the bytes it freed."""

    removed: list[str] = field(default_factory=list)
    reclaimed: int = 0


@dataclass(frozen=True)
class Pruner:
    name: str
    run: Callable[[Engine, PruneOptions], Pruned]
    wanted: Callable[[PruneOptions], bool] = lambda options: True


def _volumes(engine: Engine, options: PruneOptions) -> Pruned:
    freed = engine.prune_volumes()  # unused anonymous volumes, as Docker's `system prune`
    return Pruned(removed=list(freed), reclaimed=sum(freed.values()))


PRUNERS: list[Pruner] = [
    Pruner("containers", lambda engine, options: engine.prune_containers()),
    Pruner("networks", lambda engine, options: Pruned(removed=engine.prune_networks())),
    Pruner("images", lambda engine, options: engine.prune_images(all=options.all)),
    Pruner("volumes", _volumes, wanted=lambda options: options.volumes),
]


def prune(engine: Engine, options: PruneOptions) -> dict[str, Pruned]:
    """Repair, then every wanted pruner in order; what each removed."""
    engine.repair()
    return {p.name: p.run(engine, options) for p in PRUNERS if p.wanted(options)}


def df(engine: Engine) -> list[dict[str, Any]]:
    """Docker's `system df` rows: TYPE, TOTAL, ACTIVE, SIZE, RECLAIMABLE (bytes)."""
    containers = engine.containers(all=True)
    used = {c.image_id for c in containers}
    images = engine.images()
    # layers are shared: an image's size counts its layers once, the total counts each once
    layer_size = {d: disk_usage(engine.layers.path(d)) for i in images for d in i.diff_ids}
    needed = {d for i in images if i.image_id in used for d in i.diff_ids}
    image_total = sum(layer_size.values())
    rows = [
        {
            "Type": "Images",
            "TotalCount": len(images),
            "Active": len({i.image_id for i in images if i.image_id in used}),
            "Size": image_total,
            "Reclaimable": image_total - sum(layer_size[d] for d in needed),
        }
    ]
    sizes = {
        c.id: container_size(os.path.join(engine.root, "containers", c.id)) for c in containers
    }
    running = [c for c in containers if c.status == "running"]
    rows.append(
        {
            "Type": "Containers",
            "TotalCount": len(containers),
            "Active": len(running),
            "Size": sum(sizes.values()),
            "Reclaimable": sum(sizes[c.id] for c in containers if c.status != "running"),
        }
    )
    return rows


def info(engine: Engine) -> dict[str, Any]:
    """Docker's `info` facts that bastion has, with its own (the runtime root the sensor
    watches, the cgroup layout)."""
    from bastion import __version__
    from bastion.engine.operations import host_memory, is_paused
    from bastion.runtime.cgroups.detect import detect

    containers = engine.containers(all=True)
    paused = sum(1 for c in containers if is_paused(engine.runtime_root, c))
    running = sum(1 for c in containers if c.status == "running") - paused
    layout = detect()
    return {
        "Containers": len(containers),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": len(containers) - running - paused,
        "Images": len(engine.images()),
        "ServerVersion": __version__,
        "Driver": "overlay",
        "DockerRootDir": engine.root,
        "RuntimeRoot": engine.runtime_root,
        "DefaultRuntime": "bastion-runc",
        "Runtime": engine.runtime,
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": "2" if layout == "unified" else "1",
        "CgroupLayout": layout,
        "CgroupParent": engine.cgroup_parent,
        "KernelVersion": platform.release(),
        "OperatingSystem": _os_name(),
        "Architecture": platform.machine(),
        "NCPU": os.cpu_count() or 0,
        "MemTotal": host_memory(),
        "Name": platform.node(),
        "Python": platform.python_version(),
        "RuntimeContainers": _runtime_containers(engine.runtime_root),
    }


def version(engine: Engine | None) -> dict[str, Any]:
    """`docker version`'s two halves: bastion has no server, the engine library is it."""
    from bastion import __version__

    client = {
        "Version": __version__,
        "ApiVersion": API_VERSION,
        "PythonVersion": platform.python_version(),
        "Os": platform.system().lower(),
        "Arch": platform.machine(),
    }
    server = {
        "Version": __version__,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "KernelVersion": platform.release(),
        "Os": platform.system().lower(),
        "Arch": platform.machine(),
        "Components": [
            {"Name": "Engine", "Version": __version__},
            {"Name": "bastion-runc", "Version": __version__},
            {"Name": "conmon", "Version": _conmon_version()},
        ],
    }
    if engine is not None:
        server["Root"] = engine.root
    return {"Client": client, "Server": server}


def _conmon_version() -> str:
    import subprocess

    from bastion.engine.monitor import CONMON

    try:
        out = subprocess.run(
            [CONMON, "--version"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except OSError:
        return ""
    first = out.splitlines()[0] if out else ""
    return first.rsplit(" ", 1)[-1]


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def _runtime_containers(runtime_root: str) -> int:
    """Containers in bastion-runc's state directory (the engine's and anyone else's)."""
    try:
        return len([n for n in os.listdir(runtime_root) if not n.startswith(".")])
    except FileNotFoundError:
        return 0
