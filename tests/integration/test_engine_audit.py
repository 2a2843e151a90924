"""`bastion audit` on engine containers: the findings match how each was run (a default
container, `--privileged`, `-v /var/run:/var/run`, `--network host`), and the exit status
follows `--fail-on`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from bastion_testing.engine import Bastion, engine_rig

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-audit-") as b:
        yield b


def _audit(bastion: Bastion, *run_flags: str) -> tuple[int, dict[str, str]]:
    cid = bastion.ok("run", "-d", *run_flags, bastion.image, "sleep", "60").strip()
    try:
        result = bastion("audit", "--format", "json", cid)
        assert result.returncode in (0, 1), result.stderr
        (report,) = json.loads(result.stdout)
        assert report["target"] != "" and report["pid"] > 0
        return result.returncode, {f["check"]: f["severity"] for f in report["findings"]}
    finally:
        bastion.ok("rm", "-f", cid)


def test_a_default_container(bastion: Bastion) -> None:
    status, checks = _audit(bastion, "-m", "64m", "--pids-limit", "50")
    assert status == 0, checks  # nothing high or critical
    assert not [c for c in checks if c.startswith(("namespace-shared-", "capability-sys"))]
    assert "seccomp-filter" in checks and "seccomp-off" not in checks
    assert "runs-as-root" in checks  # busybox runs as root, without a user namespace
    assert "limit-memory-none" not in checks and "limit-pids-none" not in checks
    assert not [c for c in checks if c.startswith(("unmasked-", "writable-", "host-mount-"))]


def test_a_privileged_container(bastion: Bastion) -> None:
    status, checks = _audit(bastion, "--privileged")
    assert status == 1
    assert checks["capabilities-all"] == "critical"
    assert checks["seccomp-off"] == "high"
    assert "limit-memory-none" in checks


def test_the_hosts_var_run_mounted(bastion: Bastion) -> None:
    status, checks = _audit(bastion, "-v", "/var/run:/var/run")
    assert status == 1
    assert checks["host-mount-var-run"] == "critical"


def test_the_host_network_and_fail_on(bastion: Bastion) -> None:
    status, checks = _audit(bastion, "--network", "host")
    assert checks["namespace-shared-net"] == "high" and status == 1
    cid = bastion.ok("run", "-d", bastion.image, "sleep", "60").strip()
    try:
        assert bastion("audit", "--fail-on", "medium", cid).returncode == 1  # runs as root
        assert bastion("audit", "--fail-on", "none", cid).returncode == 0
        text = bastion.ok("audit", "--fail-on", "critical", cid)
        assert "MEDIUM" in text and "fix:" in text
    finally:
        bastion.ok("rm", "-f", cid)
    stopped = bastion("audit", "no-such-container")
    assert stopped.returncode == 125 and "no such container" in stopped.stderr
