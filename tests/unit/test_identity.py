"""ContainerIdentity round-trips through its JSON form, the file the sensor reads."""

from __future__ import annotations

from bastion import jsonio
from bastion.identity import ContainerIdentity, first_annotation, labels_from_annotations


def test_round_trip() -> None:
    ident = ContainerIdentity(
        id="c1",
        name="web",
        image="busybox",
        image_digest="sha256:" + "ab" * 32,
        labels={"a": "b"},
        privileged=True,
        cgroup_path="/bastion/c1",
        cgroup_ids=(123, 456),
        pid=42,
        start_time=99,
    )
    again = ContainerIdentity.from_dict(jsonio.loads(jsonio.dumps(ident.to_dict())))
    assert again == ident


def test_minimal_document_defaults_name_to_id() -> None:
    ident = ContainerIdentity.from_dict({"id": "c2"})
    assert (ident.name, ident.image, ident.labels, ident.cgroup_ids) == ("c2", "", {}, ())


def test_first_annotation() -> None:
    keys = ("x", "y")
    assert first_annotation({"y": "2", "x": ""}, keys) == "2"
    assert first_annotation(None, keys) is None


def test_labels_from_annotations_engine_labels_lose_their_prefix() -> None:
    labels = labels_from_annotations(
        {"bastion.name": "web", "bastion.label.team": "blue", "org.example": "x"}
    )
    assert labels == {"team": "blue"}
    assert labels_from_annotations({}) is None
    assert labels_from_annotations({"bastion.name": "web"}) is None


def test_labels_from_annotations_cri_pod() -> None:
    # What containerd 1.6's CRI plugin writes into a pod container's config.json.
    annotations = {
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.container-name": "app",
        "io.kubernetes.cri.sandbox-id": "f" * 64,
        "io.kubernetes.cri.sandbox-name": "web-0",
        "io.kubernetes.cri.sandbox-namespace": "shop",
        "io.kubernetes.cri.sandbox-uid": "1234-5678",
    }
    assert labels_from_annotations(annotations) == {
        "io.kubernetes.pod.name": "web-0",
        "io.kubernetes.pod.namespace": "shop",
        "io.kubernetes.pod.uid": "1234-5678",
        "io.kubernetes.sandbox.id": "f" * 64,
        "io.kubernetes.container.name": "app",
    }
    # CRI-O's annotations already carry the label names.
    assert labels_from_annotations({"io.kubernetes.pod.name": "db-1", "other": "x"}) == {
        "io.kubernetes.pod.name": "db-1"
    }
