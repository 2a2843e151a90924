"""deploy/kubernetes: the manifests are valid Kubernetes objects (checked offline against
Kubernetes' own OpenAPI schemas, packaged by PyPI's kubernetes-validate, since no cluster runs
here), and the pieces agree with each other: the RuntimeClass's handler is the runtime the
containerd snippet adds, and the sensor reads the state directory that runtime writes."""

from __future__ import annotations

import os
import tomllib
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import pytest
import yaml

DEPLOY = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "kubernetes")
#: The oldest Kubernetes the manifests are checked against (RuntimeClass node.k8s.io/v1 is 1.20+).
VERSIONS = ("1.25", "1.30", kubernetes_validate.utils.latest_version())
#: containerd's runc shim runs the runtime with `--root <Root>/<containerd namespace>`.
CRI_NAMESPACE = "k8s.io"


def _documents(name: str) -> list[dict[str, Any]]:
    with open(os.path.join(DEPLOY, name)) as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def _containerd() -> dict[str, Any]:
    with open(os.path.join(DEPLOY, "containerd-bastion.toml"), "rb") as f:
        config = tomllib.load(f)
    runtimes: dict[str, Any] = config["plugins"]["io.containerd.grpc.v1.cri"]["containerd"][
        "runtimes"
    ]
    return runtimes


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", ["runtimeclass.yaml", "sensor.yaml"])
def test_manifests_are_valid_kubernetes_objects(name: str, version: str) -> None:
    documents = _documents(name)
    assert documents
    for doc in documents:
        kubernetes_validate.validate(doc, version, strict=True)


def test_a_broken_manifest_is_refused() -> None:
    # The check can fail: a typo in a field name is an error in strict mode.
    (daemonset,) = [d for d in _documents("sensor.yaml") if d["kind"] == "DaemonSet"]
    daemonset["spec"]["template"]["spec"]["hostPid"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(daemonset, VERSIONS[0], strict=True)


def test_the_runtime_class_names_the_containerd_handler() -> None:
    (runtime_class,) = _documents("runtimeclass.yaml")
    runtimes = _containerd()
    handler = runtimes[runtime_class["handler"]]
    assert handler["runtime_type"] == "io.containerd.runc.v2"
    assert os.path.basename(handler["options"]["BinaryName"]) == "bastion-runc"
    assert handler["options"]["SystemdCgroup"] is False  # bastion-runc drives cgroupfs paths


def test_the_sensor_reads_the_state_directory_the_runtime_writes() -> None:
    runtimes = _containerd()
    (runtime_class,) = _documents("runtimeclass.yaml")
    state_root = runtimes[runtime_class["handler"]]["options"]["Root"]
    (daemonset,) = [d for d in _documents("sensor.yaml") if d["kind"] == "DaemonSet"]
    pod = daemonset["spec"]["template"]["spec"]
    assert pod["hostPID"] is True
    (sensor,) = pod["containers"]
    args = sensor["args"]
    assert args[args.index("--root") + 1] == f"{state_root}/{CRI_NAMESPACE}"
    assert args[args.index("--root") + 2] == "sensor"
    mounts = {m["name"]: m["mountPath"] for m in sensor["volumeMounts"]}
    host_paths = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"]}
    assert mounts["runtime-state"] == host_paths["runtime-state"] == state_root
    assert host_paths["btf"] == "/sys/kernel/btf"
    env = {e["name"]: e["value"] for e in sensor["env"]}
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        dockerfile = f.read()
    assert f"BASTION_PROBE_OBJECT={env['BASTION_PROBE_OBJECT']}" in dockerfile
