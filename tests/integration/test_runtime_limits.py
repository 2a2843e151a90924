"""Resource limits proven by what the container's process lives through, not by cgroup files.

Each test runs `bst-helper` under a limit from `linux.resources` and asserts on what it reports
(or on how it died): the memory limit OOM-kills it, the pids limit makes fork fail with EAGAIN,
a CPU quota halves its CPU time, and cpu shares split one CPU between two containers 2:1.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from bastion_testing.bundle import new_name
from bastion_testing.helper import PATH_IN_ROOTFS as HELPER
from bastion_testing.helper import parse, parse_records
from bastion_testing.runc import wait_no_leftovers

if TYPE_CHECKING:
    from pathlib import Path

    from bastion_testing.plugin import BundleFactory
    from bastion_testing.runc import Runc

pytestmark = pytest.mark.privileged

MIB = 1 << 20
#: 64 MiB of memory and no swap beyond it (memory.memsw.limit_in_bytes == the memory limit).
MEMORY_64M: dict[str, Any] = {"linux.resources.memory": {"limit": 64 * MIB, "swap": 64 * MIB}}
SIGKILL_STATUS = 128 + 9
EAGAIN = 11


def _edit(path: str, value: Any) -> dict[str, Any]:
    """One `bundle_factory` edit, typed for mypy (a dict literal would clash with its params)."""
    return {path: value}


def _touched_mib(output: str) -> int:
    """The last progress report of `bst-helper alloc` (MiB touched before it died)."""
    touched = [int(r["touched_mib"]) for r in parse_records(output) if "touched_mib" in r]
    return touched[-1] if touched else 0


def test_memory_limit_oom_kills_run(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, tmp_path: Path
) -> None:
    bundle = bundle_factory(args=[HELPER, "alloc", "200"], **MEMORY_64M)
    log = tmp_path / "runc.log"
    result = runc(
        "--log", str(log), "--log-format", "json", "run", "--bundle", bundle, container_id
    )
    assert result.returncode == SIGKILL_STATUS, result
    # It got well into the allocation and was stopped near the limit, not before or after.
    touched = _touched_mib(result.stdout)
    assert 32 <= touched <= 64, result.stdout
    assert "alloc=ok" not in result.stdout
    assert "OOM" in result.stderr
    warnings = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(w["level"] == "warning" and "OOM" in w["msg"] for w in warnings), warnings
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


def test_memory_limit_oom_kill_shows_in_state(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=[HELPER, "alloc", "200"], **MEMORY_64M)
    runc("run", "--detach", "--bundle", bundle, container_id, check=True)
    state = runc.wait_status(container_id, "stopped")
    assert state.get("oomKilled") is True, state
    assert state["pid"] == 0
    runc("delete", container_id, check=True)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


def test_within_memory_limit_is_not_oom_killed(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    # The control for the two tests above: 16 MiB fits, so no kill and no oomKilled.
    bundle = bundle_factory(args=[HELPER, "alloc", "16"], **MEMORY_64M)
    result = runc("run", "--keep", "--bundle", bundle, container_id)
    assert result.returncode == 0, result
    assert parse(result.stdout)["alloc"] == "ok"
    assert "OOM" not in result.stderr
    state = runc.state(container_id)
    assert state["status"] == "stopped"
    assert "oomKilled" not in state, state
    runc("delete", container_id, check=True)


def test_pids_limit_makes_fork_fail(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(
        args=[HELPER, "fork", "20", "1"], **_edit("linux.resources.pids", {"limit": 8})
    )
    result = runc("run", "--bundle", bundle, container_id)
    assert result.returncode == 0, result
    report = parse(result.stdout)
    forked, failed = int(report["forked"]), int(report["failed"])
    assert forked + failed == 20
    # The helper itself is one of the 8 tasks.
    assert 1 <= forked <= 8 - 1, report
    assert failed > 0
    assert int(report["errno"]) == EAGAIN, report


def test_without_pids_limit_every_fork_succeeds(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=[HELPER, "fork", "20", "1"])
    result = runc("run", "--bundle", bundle, container_id)
    assert result.returncode == 0, result
    report = parse(result.stdout)
    assert (report["forked"], report["failed"], report["errno"]) == ("20", "0", "0")


def test_cpu_quota_halves_cpu_time(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(
        args=[HELPER, "spin", "3"],
        **_edit("linux.resources.cpu", {"quota": 50000, "period": 100000}),
    )
    result = runc("run", "--bundle", bundle, container_id)
    assert result.returncode == 0, result
    report = parse(result.stdout)
    ratio = float(report["cpu"]) / float(report["wall"])
    assert 0.35 <= ratio <= 0.65, report


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs CPU 1")
def test_cpu_shares_split_one_cpu(
    runc: Runc, bundle_factory: BundleFactory, tmp_path: Path
) -> None:
    # Two busy containers pinned to the same CPU: the CFS gives them CPU time in proportion
    # to their shares (cpu.shares on v1, cpu.weight converted from it on v2).
    names = {"heavy": 1024, "light": 512}
    ids = {name: new_name() for name in names}
    bundles = {
        name: bundle_factory(
            args=[HELPER, "spin", "4"],
            **_edit("linux.resources.cpu", {"shares": shares, "cpus": "1"}),
        )
        for name, shares in names.items()
    }
    outputs = {name: tmp_path / f"{name}.out" for name in names}
    for name in names:
        with outputs[name].open("w") as out:
            # The container inherits create's stdout and stderr: a file, never a pipe (the
            # container would hold the pipe open and subprocess.run wait for it to end).
            subprocess.run(
                runc.argv("create", "--bundle", bundles[name], ids[name]),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                timeout=60,
                check=True,
            )
    starts = [
        subprocess.Popen(runc.argv("start", ids[name]), stdin=subprocess.DEVNULL) for name in names
    ]
    assert [p.wait(timeout=60) for p in starts] == [0, 0]
    for name in names:
        runc.wait_status(ids[name], "stopped")
        runc("delete", ids[name], check=True)
    reports = {name: parse(outputs[name].read_text()) for name in names}
    ratio = float(reports["heavy"]["cpu"]) / float(reports["light"]["cpu"])
    assert 1.6 <= ratio <= 2.5, reports
