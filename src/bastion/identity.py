"""`ContainerIdentity`: the one record the runtime and the sensor share (docs/architecture.md).

The runtime writes it into the container's state directory (`identity.json`) before the
container's first exec, so a sensor that sees the first syscall of a container can already name
it: id, name, image, labels and the cgroup ids the eBPF probe reports. Metadata is never `<NA>`
because the runtime that made the container says who it is, before it runs.
"""

from __future__ import annotations

from bastion._record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Where bastion-runc keeps container state (`--root`'s default) and so where the sensor looks for
#: `identity.json` files. runc's is /run/runc; ours sits beside it.
DEFAULT_STATE_ROOT = "/run/bastion"
IDENTITY_FILE = "identity.json"
#: Where `delete` keeps a container's record for a minute (`<root>/.gone/<id>.json`): a sensor
#: evaluates events a little after they happen, and a short-lived container can be deleted
#: before its events are looked at (bastion.runtime.store, the sensor's container table).
GONE_DIR = ".gone"

# Annotations a caller (our engine, Podman, containerd/CRI) uses to name a container and its image.
NAME_ANNOTATIONS = (
    "bastion.name",
    "io.kubernetes.cri.container-name",
    "io.podman.annotations.name",
)
IMAGE_DIGEST_ANNOTATIONS = (
    "bastion.image.digest",
    "io.kubernetes.cri.image-id",
)
IMAGE_ANNOTATIONS = (
    "bastion.image",
    "io.kubernetes.cri.image-name",
    "org.opencontainers.image.ref.name",
)
#: Our engine passes a container's labels as annotations with this prefix (`--label K=V`).
LABEL_ANNOTATION_PREFIX = "bastion.label."
#: The pod a CRI container belongs to, as containerd's CRI plugin annotates config.json, and the
#: label each becomes: the labels containerd's CRI puts on its containers, which Falco's `k8s.*`
#: fields read. Under CRI a container's own labels never reach the runtime, so without this
#: every `k8s.*` field of a pod's container would be unreadable.
POD_NAME_LABEL = "io.kubernetes.pod.name"
POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
POD_UID_LABEL = "io.kubernetes.pod.uid"
POD_SANDBOX_LABEL = "io.kubernetes.sandbox.id"
CRI_POD_LABELS = (
    ("io.kubernetes.cri.sandbox-name", POD_NAME_LABEL),
    ("io.kubernetes.cri.sandbox-namespace", POD_NAMESPACE_LABEL),
    ("io.kubernetes.cri.sandbox-uid", POD_UID_LABEL),
    ("io.kubernetes.cri.sandbox-id", POD_SANDBOX_LABEL),
    ("io.kubernetes.cri.container-name", "io.kubernetes.container.name"),
)
#: CRI-O annotates with the label names themselves.
_CRIO_POD_LABELS = frozenset(label for _, label in CRI_POD_LABELS)


@record
class ContainerIdentity:
    """Who a container is, for the sensor: `cgroup_ids` are cgroup2 inode numbers (what
    `bpf_get_current_cgroup_id()` returns); `start_time` is the init's, in clock ticks."""

    id: str
    name: str
    image: str = ""
    image_digest: str = ""
    labels: dict[str, str] | None = None
    privileged: bool = False
    cgroup_path: str = ""
    cgroup_ids: tuple[int, ...] = ()
    pid: int = 0
    start_time: int = 0
    runtime: str = "bastion"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "image": self.image,
            "imageDigest": self.image_digest,
            "labels": dict(self.labels or {}),
            "privileged": self.privileged,
            "cgroupPath": self.cgroup_path,
            "cgroupIds": list(self.cgroup_ids),
            "pid": self.pid,
            "startTime": self.start_time,
            "runtime": self.runtime,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ContainerIdentity:
        return cls(
            id=str(doc["id"]),
            name=str(doc.get("name") or doc["id"]),
            image=str(doc.get("image", "")),
            image_digest=str(doc.get("imageDigest", "")),
            labels={str(k): str(v) for k, v in (doc.get("labels") or {}).items()},
            privileged=bool(doc.get("privileged", False)),
            cgroup_path=str(doc.get("cgroupPath", "")),
            cgroup_ids=tuple(int(i) for i in doc.get("cgroupIds", ())),
            pid=int(doc.get("pid", 0)),
            start_time=int(doc.get("startTime", 0)),
            runtime=str(doc.get("runtime", "bastion")),
        )


def labels_from_annotations(annotations: dict[str, str] | None) -> dict[str, str] | None:
    """The container's labels for its identity: the engine's `bastion.label.K` annotations
    (as `K`) and the pod a CRI runtime names in its annotations (as the `io.kubernetes.*`
    labels Falco's `k8s.*` fields read); None when there are none."""
    if not annotations:
        return None
    labels: dict[str, str] = {}
    for key, value in annotations.items():
        if key.startswith(LABEL_ANNOTATION_PREFIX):
            labels[key[len(LABEL_ANNOTATION_PREFIX) :]] = value
        elif key in _CRIO_POD_LABELS and value:
            labels[key] = value
    for annotation, label in CRI_POD_LABELS:
        if annotations.get(annotation):
            labels[label] = annotations[annotation]
    return labels or None


def first_annotation(annotations: dict[str, str] | None, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if annotations and annotations.get(key):
            return annotations[key]
    return None
