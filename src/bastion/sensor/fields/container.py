"""``container.*`` and ``k8s.*``: the container of the event's thread (Falco's container
plugin fields; ``k8s.*`` from the CRI labels a Kubernetes runtime puts on each container).

On the host ``container.id`` and ``container.name`` are ``host`` and the fields a host does
not have (image, privileged...) are unreadable. ``k8s.*`` fields are unreadable outside a
Kubernetes pod (no ``io.kubernetes.pod.*`` labels). Pod labels are not in a container's own
record: ``k8s.pod.label[X]`` reads those the CRI socket gave (``state/cri.py``), else the
container's labels, where some CRI runtimes copy them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from bastion.identity import (
    POD_NAME_LABEL,
    POD_NAMESPACE_LABEL,
    POD_SANDBOX_LABEL,
    POD_UID_LABEL,
)
from bastion.sensor.fields.model import ArgKind, FieldDef, Getter, StateView
from bastion.sensor.rules.compiler import Inline
from bastion.sensor.rules.ops import MISSING

if TYPE_CHECKING:
    from bastion.sensor.events.model import Event
    from bastion.sensor.state.model import Container, ContainerMount

Read = Callable[["Container"], object]

POD_NAME = POD_NAME_LABEL
POD_NAMESPACE = POD_NAMESPACE_LABEL
POD_UID = POD_UID_LABEL
SANDBOX_ID = POD_SANDBOX_LABEL


def split_image(image: str) -> tuple[str, str, str]:
    """``registry/repo:tag@sha256:x`` -> (``registry/repo``, ``tag``, ``sha256:x``)."""
    ref, _, digest = image.partition("@")
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :], digest
    return ref, "", digest


def _text(value: str) -> object:
    return value if value else MISSING


def _on_container(read: Read) -> Callable[..., Getter]:
    def factory(state: StateView, arg: str | None) -> Getter:
        del arg

        def get(evt: Event) -> object:
            t = evt.thread
            if t is None:
                return MISSING
            value = read(state.container_of(t))
            return MISSING if value is None else value

        return get

    return factory


def _keyed(read: Callable[[Container, str], object]) -> Callable[..., Getter | None]:
    def factory(state: StateView, arg: str | None) -> Getter | None:
        if not arg:
            return None
        key = arg

        def get(evt: Event) -> object:
            t = evt.thread
            if t is None:
                return MISSING
            value = read(state.container_of(t), key)
            return MISSING if value is None else value

        return get

    return factory


def _mount(c: Container, key: str, *, by: str) -> ContainerMount | None:
    """Mount `key` of `c`: an index, or the first whose `by` path matches `key` (a glob)."""
    if key.isdigit():
        index = int(key)
        return c.mounts[index] if index < len(c.mounts) else None
    return next((m for m in c.mounts if fnmatch.fnmatchcase(getattr(m, by), key)), None)


def _mount_text(mount: ContainerMount | None) -> str:
    return "none" if mount is None else str(mount)


def _mount_part(attr: str, by: str) -> Callable[[Container, str], object]:
    def read(c: Container, key: str) -> object:
        mount = _mount(c, key, by=by)
        if mount is None:
            return None
        value = getattr(mount, attr)
        return str(value).lower() if isinstance(value, bool) else value

    return read


def _is_host(c: Container) -> bool:
    return c.kind == "host"


def _not_host(read: Read) -> Read:
    return lambda c: MISSING if _is_host(c) else read(c)


def _k8s(read: Read) -> Read:
    return lambda c: read(c) if POD_NAME in c.labels else MISSING


def _labels_text(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}:{v}" for k, v in labels.items())


def _id_inline(state: StateView, event_type: str, direction: str) -> Inline:
    """container.id's inline form (rules/codegen.py): the state's container's short id read
    without the getter's two calls; the getter for a thread-less event or a None id."""
    del event_type, direction
    return Inline(
        "_w_v if (_w_t := evt.thread) is not None and (_w_v := _cxid_of(_w_t).short_id) is not"
        " None else _cxid_get(evt)",
        {"_cxid_of": state.container_of, "_cxid_get": _on_container(_short_id)(state, None)},
    )


def _short_id(container: Container) -> object:
    return container.short_id


def _fields() -> Iterator[FieldDef]:
    def c(name: str, type: str, doc: str, read: Read) -> FieldDef:
        return FieldDef(name, type, doc, _on_container(read))

    yield FieldDef(
        "container.id",
        "string",
        "Container id, 12 characters; 'host' on the host.",
        _on_container(_short_id),
        inline=_id_inline,
    )
    yield c("container.full_id", "string", "Full container id; 'host' on the host.", lambda x: x.id)
    yield c("container.name", "string", "Container name; 'host' on the host.", lambda x: x.name)
    yield c(
        "container.type",
        "string",
        "Where the record came from: bastion, docker, containerd...",
        lambda x: x.kind,
    )
    yield c(
        "container.image",
        "string",
        "Image reference, e.g. repo:tag.",
        _not_host(lambda x: _text(x.image)),
    )
    yield c(
        "container.image.repository",
        "string",
        "Image repository without tag or digest.",
        _not_host(lambda x: _text(x.image_repo or split_image(x.image)[0])),
    )
    yield c(
        "container.image.tag",
        "string",
        "Image tag.",
        _not_host(lambda x: _text(x.image_tag or split_image(x.image)[1])),
    )
    yield c(
        "container.image.digest",
        "string",
        "Image digest from the reference.",
        _not_host(lambda x: _text(x.image_digest or split_image(x.image)[2])),
    )
    yield c("container.image.id", "string", "Image id.", _not_host(lambda x: _text(x.image_id)))
    yield c(
        "container.privileged",
        "bool",
        "The container runs privileged.",
        _not_host(lambda x: x.privileged),
    )
    yield c(
        "container.start_ts",
        "abstime",
        "Container start time, ns since the epoch.",
        _not_host(lambda x: x.start_ts or MISSING),
    )
    yield FieldDef(
        "container.label",
        "string",
        "One container label: container.label[KEY].",
        _keyed(lambda x, k: x.labels.get(k)),
        ArgKind.REQUIRED,
    )
    yield c(
        "container.labels",
        "string",
        "Every label as 'k:v, k:v'.",
        _not_host(lambda x: _labels_text(x.labels)),
    )
    yield c(
        "container.mounts",
        "string",
        "The mounts its engine reported, 'source:dest:mode:rdwr:propagation' comma-separated.",
        _not_host(lambda x: ",".join(map(str, x.mounts)) if x.mounts else MISSING),
    )
    yield FieldDef(
        "container.mount",
        "string",
        "One mount by index or by (glob) source path; 'none' when there is no such mount.",
        _keyed(lambda x, k: _mount_text(_mount(x, k, by="source"))),
        ArgKind.REQUIRED,
    )
    for part, attr, by in (
        (".source", "source", "dest"),
        (".dest", "dest", "source"),
        (".mode", "mode", "source"),
        (".rdwr", "rdwr", "source"),
        (".propagation", "propagation", "source"),
    ):
        yield FieldDef(
            f"container.mount{part}",
            "string",
            f"A mount's {attr} by index or by (glob) {by} path.",
            _keyed(_mount_part(attr, by)),
            ArgKind.REQUIRED,
        )
    yield c(
        "container.healthcheck",
        "string",
        "Health-check command (not tracked: unreadable).",
        lambda x: MISSING,
    )
    yield c("k8s.pod.name", "string", "Pod name (CRI label).", _k8s(lambda x: x.labels[POD_NAME]))
    yield c(
        "k8s.ns.name",
        "string",
        "Pod namespace (CRI label).",
        _k8s(lambda x: x.labels.get(POD_NAMESPACE)),
    )
    yield c("k8s.pod.uid", "string", "Pod UID (CRI label).", _k8s(lambda x: x.labels.get(POD_UID)))
    yield c(
        "k8s.pod.id",
        "string",
        "Legacy alias of k8s.pod.uid.",
        _k8s(lambda x: x.labels.get(POD_UID)),
    )
    yield c(
        "k8s.pod.sandbox_id",
        "string",
        "Pod sandbox id, 12 characters.",
        _k8s(lambda x: x.labels[SANDBOX_ID][:12] if SANDBOX_ID in x.labels else None),
    )
    yield c(
        "k8s.pod.full_sandbox_id",
        "string",
        "Full pod sandbox id.",
        _k8s(lambda x: x.labels.get(SANDBOX_ID)),
    )
    yield FieldDef(
        "k8s.pod.label",
        "string",
        "One pod label: k8s.pod.label[KEY].",
        _keyed(lambda x, k: x.pod_labels.get(k, x.labels.get(k)) if POD_NAME in x.labels else None),
        ArgKind.REQUIRED,
    )
    yield c(
        "k8s.pod.labels",
        "string",
        "Every pod label as 'k:v, k:v'.",
        _k8s(
            lambda x: _labels_text(
                x.pod_labels
                or {k: v for k, v in x.labels.items() if not k.startswith("io.kubernetes.")}
            )
        ),
    )


FIELDS: tuple[FieldDef, ...] = tuple(_fields())
