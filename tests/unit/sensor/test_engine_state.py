"""Containers other engines made, named from those engines' files (sensor/state/engines.py):
containerd's shim bundle (with a CRI pod's annotations) and Podman's containers/storage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bastion.sensor.state import engines
from bastion.sensor.state.containers import ContainerTable

CID = "ab" * 32


def _bundle(state: Path, namespace: str, annotations: dict[str, str]) -> None:
    bundle = state / "io.containerd.runtime.v2.task" / namespace / CID
    bundle.mkdir(parents=True)
    (bundle / "config.json").write_text(
        json.dumps({"ociVersion": "1.0.2", "annotations": annotations})
    )


def test_containerd_cri_container(tmp_path: Path) -> None:
    _bundle(
        tmp_path,
        "k8s.io",
        {
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.container-name": "app",
            "io.kubernetes.cri.image-name": "registry.local/shop/app:2",
            "io.kubernetes.cri.sandbox-name": "web-0",
            "io.kubernetes.cri.sandbox-namespace": "shop",
        },
    )
    said = engines.from_containerd(CID, [str(tmp_path / "elsewhere"), str(tmp_path)])
    assert said is not None
    assert (said.name, said.image) == ("app", "registry.local/shop/app:2")
    assert said.labels is not None
    assert said.labels["io.kubernetes.pod.name"] == "web-0"
    assert said.labels["io.kubernetes.pod.namespace"] == "shop"
    assert engines.from_containerd("cd" * 32, [str(tmp_path)]) is None


def test_containerd_bundle_being_written_is_no_answer(tmp_path: Path) -> None:
    bundle = tmp_path / "io.containerd.runtime.v2.task" / "default" / CID
    bundle.mkdir(parents=True)
    (bundle / "config.json").write_text('{"ociVersion": ')  # half written
    assert engines.from_containerd(CID, [str(tmp_path)]) is None


def test_podman_container(tmp_path: Path) -> None:
    (tmp_path / "vfs-containers").mkdir()
    (tmp_path / "vfs-images").mkdir()
    (tmp_path / "vfs-containers" / "containers.json").write_text(
        json.dumps(
            [{"id": "ef" * 32, "names": ["other"]}, {"id": CID, "names": ["web"], "image": "i1"}]
        )
    )
    (tmp_path / "vfs-images" / "images.json").write_text(
        json.dumps([{"id": "i1", "names": ["localhost/busybox:latest"]}])
    )
    said = engines.from_podman(CID, [str(tmp_path)])
    assert said == engines.Described(name="web", image="localhost/busybox:latest")


def test_the_table_names_a_foreign_container_only_when_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _bundle(tmp_path, "default", {"io.kubernetes.cri.container-name": "app"})
    monkeypatch.setenv(engines.CONTAINERD_STATE_ENV, str(tmp_path))
    path = f"/kubepods/besteffort/podx/{CID}"
    replayed = ContainerTable(runtime_roots=(str(tmp_path / "none"),))
    found = replayed.by_cgroups((("memory", path),))
    assert found is not None and found.name == CID[:12]  # a capture's host is not this one
    live = ContainerTable(runtime_roots=(str(tmp_path / "none"),))
    live.read_engines = True
    found = live.by_cgroups((("memory", path),))
    assert found is not None and (found.kind, found.name) == ("containerd", "app")
