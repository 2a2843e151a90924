"""default_spec: runc's `spec` template, with our documented differences."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bastion import jsonio
from bastion.oci import decode_spec, default_spec, validate_spec

RUNC = shutil.which("runc") or "/usr/sbin/runc"


def _runc_spec(tmp_path: Path, *flags: str) -> dict[str, Any]:
    subprocess.run([RUNC, "spec", *flags], cwd=tmp_path, check=True)
    result: dict[str, Any] = json.loads((tmp_path / "config.json").read_text())
    return result


def _as_ours(runc: dict[str, Any]) -> dict[str, Any]:
    """runc's template with the differences defaults.py documents applied."""
    runc["ociVersion"] = "1.1.0"
    runc["hostname"] = "bastion"
    runc["process"]["capabilities"].pop("ambient", None)
    namespaces = runc["linux"]["namespaces"]
    if {"type": "cgroup"} not in namespaces:
        position = (
            next(i for i, ns in enumerate(namespaces) if ns["type"] == "user")
            if {"type": "user"} in namespaces
            else len(namespaces)
        )
        namespaces.insert(position, {"type": "cgroup"})
    # runc's newest template also masks /sys/devices/virtual/tpm; we keep 1.1's list.
    masked = runc["linux"]["maskedPaths"]
    if "/sys/devices/virtual/tpm" in masked:
        masked.remove("/sys/devices/virtual/tpm")
    return runc


@pytest.mark.skipif(not os.access(RUNC, os.X_OK), reason="runc is not installed")
@pytest.mark.parametrize("flags", [(), ("--rootless",)])
def test_default_spec_matches_runc_spec(tmp_path: Path, flags: tuple[str, ...]) -> None:
    expected = _as_ours(_runc_spec(tmp_path, *flags))
    assert default_spec(rootless=bool(flags)) == expected


def test_rootless_maps_the_calling_user() -> None:
    linux: Any = default_spec(rootless=True)["linux"]
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    assert {"type": "user"} in linux["namespaces"]
    assert {"type": "network"} not in linux["namespaces"]
    assert "resources" not in linux


@pytest.mark.parametrize("rootless", [False, True])
def test_default_spec_decodes_and_validates(rootless: bool) -> None:
    spec = decode_spec(jsonio.dumps(default_spec(rootless=rootless)))
    validate_spec(spec, require_process=True)
    assert spec.process is not None and spec.process.args == ("sh",)
    assert spec.root is not None and spec.root.readonly


def test_each_call_returns_a_fresh_document() -> None:
    first = default_spec()
    first["process"]["args"].append("-x")  # type: ignore[index]
    first["linux"]["maskedPaths"].clear()  # type: ignore[index]
    assert default_spec() == default_spec() != first
