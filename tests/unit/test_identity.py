"""ContainerIdentity round-trips through its JSON form, the file the sensor reads."""

from __future__ import annotations

from bastion import jsonio
from bastion.identity import ContainerIdentity, first_annotation


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
