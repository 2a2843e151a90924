"""`bastion.audit` on live bastion-runc containers: the findings follow what the container really
is, as the kernel shows it, for configurations made to differ in one respect each.

Each test starts a container from a bundle with `create` + `start` (its process is a `sleep`),
audits its pid, and deletes it.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING, Any

import pytest

from bastion.audit import Report, audit
from bastion.audit.checks import allowed_syscalls
from bastion.audit.facts import read_facts
from bastion.oci.vocabulary import CAPABILITIES
from bastion.runtime.seccomp_profile import default_profile
from bastion_testing.runc import wait_no_leftovers

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from bastion_testing.plugin import BundleFactory
    from bastion_testing.runc import Runc

pytestmark = pytest.mark.privileged

DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def _all_caps() -> list[str]:
    """Every capability this host grants (what --privileged gives: the caller's bounding set)."""
    with open("/proc/self/status") as f:
        mask = next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))
    return [name for name, bit in CAPABILITIES.items() if mask >> bit & 1]


class Started:
    def __init__(self, runc: Runc, bundle_factory: BundleFactory, container_id: str) -> None:
        self.runc, self.factory, self.id = runc, bundle_factory, container_id
        self.bundle: str | None = None

    def __call__(self, **edits: Any) -> int:
        self.bundle = self.factory(args=["sleep", "60"], **edits)
        self.runc("create", "--bundle", self.bundle, self.id, check=True)
        self.runc("start", self.id, check=True)
        pid = int(self.runc.wait_status(self.id, "running")["pid"])
        # the init has exec'd `sleep` once its /proc/PID/exe is no longer Python
        return pid


@pytest.fixture
def started(runc: Runc, bundle_factory: BundleFactory, container_id: str) -> Iterator[Started]:
    s = Started(runc, bundle_factory, container_id)
    try:
        yield s
    finally:
        if s.bundle is not None:
            runc("delete", "--force", container_id)
            assert wait_no_leftovers(runc.root, container_id, s.bundle) == []


def _checks(report: Report) -> dict[str, str]:
    return {f.check: f.severity for f in report.findings}


def test_a_confined_container_has_no_high_findings(started: Started) -> None:
    pid = started(
        linux__seccomp=default_profile(DEFAULT_CAPS),
        linux__resources={"memory": {"limit": 64 << 20}, "pids": {"limit": 64}},
        process__user={"uid": 1000, "gid": 1000},
    )
    report = audit(pid)
    checks = _checks(report)
    assert report.at_least("high") == [], report.findings
    assert not any(c.startswith(("namespace-shared-", "unmasked-", "writable-")) for c in checks)
    assert "seccomp-filter" in checks and "seccomp-off" not in checks
    assert "runs-as-root" not in checks and "root-writable" not in checks
    assert "limit-memory-none" not in checks and "limit-pids-none" not in checks
    assert "no-new-privileges-off" not in checks  # default_spec sets noNewPrivileges


def test_the_seccomp_count_is_the_profiles_allow_list(started: Started) -> None:
    profile = default_profile(DEFAULT_CAPS)
    pid = started(linux__seccomp=profile)
    facts = read_facts(pid)
    assert facts.seccomp_mode == 2 and facts.seccomp_programs, facts.problems
    allowed = set(allowed_syscalls(facts.seccomp_programs))
    unconditional = {
        name
        for rule in profile["syscalls"]
        if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args")
        for name in rule["names"]
    }
    conditional = {
        name
        for rule in profile["syscalls"]
        if rule["action"] == "SCMP_ACT_ALLOW" and rule.get("args")
        for name in rule["names"]
    }
    from bastion._sys.syscall_table import X86_64

    assert unconditional & set(X86_64) <= allowed
    assert allowed - unconditional <= conditional, allowed - unconditional
    for denied in ("mount", "kexec_load", "init_module", "bpf", "open_by_handle_at"):
        assert denied not in allowed
    # the container still runs: reading the filters stopped it only for a moment
    with open(f"/proc/{pid}/stat") as f:
        assert f.read().split(") ")[1][0] in "SR"


def test_all_capabilities_and_no_seccomp_are_critical_and_high(started: Started) -> None:
    caps = _all_caps()
    pid = started(
        process__capabilities={"bounding": caps, "effective": caps, "permitted": caps},
    )
    checks = _checks(audit(pid))
    assert checks["capabilities-all"] == "critical"
    assert checks["seccomp-off"] == "high"
    assert checks["runs-as-root"] == "medium"
    assert checks["limit-memory-none"] == "medium"


def test_the_host_network_namespace_is_found(started: Started) -> None:
    from bastion.oci.defaults import default_spec

    namespaces = [n for n in default_spec()["linux"]["namespaces"] if n["type"] != "network"]  # type: ignore[index]
    pid = started(linux__namespaces=namespaces)
    checks = _checks(audit(pid))
    assert checks["namespace-shared-net"] == "high"
    assert "namespace-shared-pid" not in checks


def test_unmasked_and_writable_kernel_paths_are_found(started: Started) -> None:
    pid = started(linux__maskedPaths=[], linux__readonlyPaths=[])
    checks = _checks(audit(pid))
    assert checks["writable-proc-sys"] == "high"
    assert "unmasked-proc-keys" in checks or "unmasked-proc-kcore" in checks, checks


def test_a_mounted_runtime_socket_is_critical(started: Started, tmp_path: Path) -> None:
    host_dir = tmp_path / "run"
    host_dir.mkdir()
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(os.fspath(host_dir / "docker.sock"))
    try:
        from bastion.oci.defaults import default_spec

        mounts = [
            *default_spec()["mounts"],  # type: ignore[misc]
            {
                "destination": "/var/run",
                "type": "bind",
                "source": os.fspath(host_dir),
                "options": ["rbind", "rw"],
            },
        ]
        pid = started(mounts=mounts)
        report = audit(pid)
        finding = next(f for f in report.findings if f.check == "host-mount-var-run")
        assert finding.severity == "critical"
        assert "docker.sock" in finding.detail
        assert os.fspath(host_dir) in finding.title
    finally:
        listener.close()
