"""Containers bastion did not start, named from their engine's own state on disk.

A container's cgroup path says which engine made it and its id (`cgroups.engine_container`),
but not its name or image: Falco's container plugin asks the engine's API for those,
asynchronously, so a container's first events go out as `<NA>`. Where the engine keeps the
answer in a file the sensor can read, it is read here when the container is first met, before
its first event is evaluated:

- **containerd** (and Kubernetes through its CRI plugin): the runc shim's bundle,
  `<state>/io.containerd.runtime.v2.task/<namespace>/<id>/config.json`, is written before the
  runtime runs. Its annotations name the container, its image and, under CRI, its pod
  (`bastion.identity`'s annotation tables read them, as bastion-runc does for its own record).
- **Podman** (containers/storage): `<storage>/<driver>-containers/containers.json` holds every
  container's names and image id, and `<driver>-images/images.json` the image's names.

The directories are the engines' defaults, or `$BASTION_CONTAINERD_STATE` and
`$BASTION_PODMAN_STORAGE` (colon-separated lists) for engines run with other roots.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

from bastion import jsonio
from bastion.identity import (
    IMAGE_ANNOTATIONS,
    NAME_ANNOTATIONS,
    first_annotation,
    labels_from_annotations,
)

CONTAINERD_STATE_ENV = "BASTION_CONTAINERD_STATE"
PODMAN_STORAGE_ENV = "BASTION_PODMAN_STORAGE"
DEFAULT_CONTAINERD_STATE = "/run/containerd"
DEFAULT_PODMAN_STORAGE = "/var/lib/containers/storage"
_TASKS = "io.containerd.runtime.v2.task"


@dataclass(frozen=True)
class Described:
    """What an engine's state says of one container."""

    name: str = ""
    image: str = ""
    labels: dict[str, str] | None = None


def _dirs(env: str, default: str) -> list[str]:
    value = os.environ.get(env)
    return [d for d in value.split(":") if d] if value else [default]


def _read_json(path: str) -> object:
    try:
        with open(path, "rb") as f:
            return jsonio.loads(f.read())
    except (OSError, ValueError):
        return None


def from_containerd(container_id: str, states: list[str] | None = None) -> Described | None:
    """The container's name, image and pod labels from the runc shim's bundle."""
    for state in states or _dirs(CONTAINERD_STATE_ENV, DEFAULT_CONTAINERD_STATE):
        for path in glob.glob(os.path.join(glob.escape(state), _TASKS, "*", container_id)):
            spec = _read_json(os.path.join(path, "config.json"))
            if not isinstance(spec, dict):
                continue
            raw = spec.get("annotations")
            annotations = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
            return Described(
                name=first_annotation(annotations, NAME_ANNOTATIONS) or "",
                image=first_annotation(annotations, IMAGE_ANNOTATIONS) or "",
                labels=labels_from_annotations(annotations),
            )
    return None


def from_podman(container_id: str, storages: list[str] | None = None) -> Described | None:
    """The container's first name and its image's first name from containers/storage (whose
    files sit in `<driver>-containers/` and `<driver>-images/`: overlay, vfs...)."""
    for storage in storages or _dirs(PODMAN_STORAGE_ENV, DEFAULT_PODMAN_STORAGE):
        pattern = os.path.join(glob.escape(storage), "*-containers", "containers.json")
        for path in glob.glob(pattern):
            containers = _read_json(path)
            if not isinstance(containers, list):
                continue
            driver = os.path.basename(os.path.dirname(path)).removesuffix("-containers")
            for entry in containers:
                if not isinstance(entry, dict) or entry.get("id") != container_id:
                    continue
                names = entry.get("names") or []
                return Described(
                    name=str(names[0]) if names else "",
                    image=_podman_image(storage, driver, str(entry.get("image", ""))),
                )
    return None


def _podman_image(storage: str, driver: str, image_id: str) -> str:
    images = _read_json(os.path.join(storage, f"{driver}-images", "images.json"))
    if not image_id or not isinstance(images, list):
        return ""
    for entry in images:
        if isinstance(entry, dict) and entry.get("id") == image_id:
            names = entry.get("names") or []
            return str(names[0]) if names else ""
    return ""


#: kind (as `cgroups.engine_container` names it) -> how to read that engine's state.
READERS = {
    "containerd": from_containerd,
    "podman": from_podman,
}


def describe(kind: str, container_id: str) -> Described | None:
    """What the engine of `kind` says of `container_id`, where its state is readable."""
    reader = READERS.get(kind)
    return reader(container_id) if reader is not None else None
