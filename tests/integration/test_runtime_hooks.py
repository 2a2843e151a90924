"""OCI hooks: order, state on stdin, namespaces, and the spec's failure semantics."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bastion_testing.plugin import BundleFactory
from bastion_testing.runc import Runc, error_line, wait_no_leftovers

pytestmark = pytest.mark.privileged


def _recorder(log: Path, kind: str) -> dict[str, Any]:
    """A hook that appends `<kind> <its uts namespace> <state JSON>` to `log`."""
    script = f'read -r state; echo "{kind} $(readlink /proc/self/ns/uts) $state" >> {log}'
    return {"path": "/bin/sh", "args": ["sh", "-c", script], "env": ["A=1"]}


def _entries(log: Path) -> list[tuple[str, str, dict[str, Any]]]:
    entries = []
    for line in log.read_text().splitlines():
        kind, ns, state = line.split(" ", 2)
        entries.append((kind, ns, json.loads(state)))
    return entries


def test_hooks_run_in_order_with_state(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, tmp_path: Path
) -> None:
    log = tmp_path / "hooks.log"
    hooks = {
        kind: [_recorder(log, kind)]
        for kind in ("prestart", "createRuntime", "createContainer", "poststart", "poststop")
    }
    # startContainer runs inside the container after pivot_root: its path and log live there.
    hooks["startContainer"] = [
        {
            "path": "/bin/sh",
            "args": ["sh", "-c", 'read -r state; echo "startContainer $state" > /start.log'],
        }
    ]
    edits: dict[str, Any] = {"hooks": hooks}
    bundle = bundle_factory(args=["sleep", "300"], readonly=False, **edits)
    runc("create", "-b", bundle, container_id, check=True)
    init = runc.state(container_id)["pid"]
    runc("start", container_id, check=True)
    runc.wait_status(container_id, "running")
    runc("delete", "--force", container_id, check=True)

    entries = _entries(log)
    assert [kind for kind, _, _ in entries] == [
        "prestart",
        "createRuntime",
        "createContainer",
        "poststart",
        "poststop",
    ]
    host_uts = os.readlink("/proc/self/ns/uts")
    by_kind = {kind: (ns, state) for kind, ns, state in entries}
    # runtime namespace for prestart/createRuntime/poststart/poststop, the container's for
    # createContainer
    for kind in ("prestart", "createRuntime", "poststart", "poststop"):
        assert by_kind[kind][0] == host_uts, kind
    assert by_kind["createContainer"][0] != host_uts
    for _, state in by_kind.values():
        assert state["id"] == container_id
        assert state["bundle"] == bundle
    # lifecycle steps 3-5 come after "creating" (step 2): runtime-tools' hooks_stdin checks it
    for kind in ("prestart", "createRuntime", "createContainer"):
        assert by_kind[kind][1]["status"] == "created", kind
    assert by_kind["createRuntime"][1]["pid"] == init
    assert by_kind["poststart"][1]["status"] == "running"
    assert by_kind["poststop"][1]["status"] == "stopped"
    start = (Path(bundle) / "rootfs" / "start.log").read_text().split(" ", 1)
    assert start[0] == "startContainer"
    assert json.loads(start[1])["status"] == "created"


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_failing_hook_stops_create_cleanly(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, kind: str
) -> None:
    failing = {"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 3"]}
    edits: dict[str, Any] = {"hooks": {kind: [failing]}}
    bundle = bundle_factory(args=["sleep", "300"], **edits)
    result = runc("create", "-b", bundle, container_id)
    assert result.returncode != 0
    line = error_line(result.stderr)
    assert "error[hook-failed]" in line
    assert f"hooks.{kind}[0]" in line
    assert "status 3" in line and "nope" in line
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


def test_missing_hook_and_timeout(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    edits: dict[str, Any] = {"hooks": {"createRuntime": [{"path": "/nonexistent/bst-hook"}]}}
    bundle = bundle_factory(args=["true"], **edits)
    result = runc("create", "-b", bundle, container_id)
    assert "hooks.createRuntime[0].path" in error_line(result.stderr)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []

    slow = {"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}
    edits = {"hooks": {"prestart": [slow]}}
    bundle = bundle_factory(args=["true"], **edits)
    result = runc("create", "-b", bundle, container_id)
    assert "timed out after 1 s" in error_line(result.stderr)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


def test_relative_hook_path_is_a_config_error(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    edits: dict[str, Any] = {"hooks": {"poststart": [{"path": "bin/true"}]}}
    bundle = bundle_factory(args=["true"], **edits)
    result = runc("create", "-b", bundle, container_id)
    assert result.returncode == 5
    assert "hooks.poststart[0].path" in error_line(result.stderr)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


def test_poststart_and_poststop_failures_only_warn(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    failing = {"path": "/bin/false", "args": ["false"]}
    edits: dict[str, Any] = {"hooks": {"poststart": [failing], "poststop": [failing]}}
    bundle = bundle_factory(args=["sleep", "300"], **edits)
    runc("create", "-b", bundle, container_id, check=True)
    started = runc("start", container_id)
    assert started.returncode == 0
    assert "hooks.poststart[0]" in started.stderr
    runc.wait_status(container_id, "running")
    deleted = runc("delete", "--force", container_id)
    assert deleted.returncode == 0
    assert "hooks.poststop[0]" in deleted.stderr
    assert wait_no_leftovers(runc.root, container_id, bundle) == []
