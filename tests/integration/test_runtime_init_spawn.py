"""The init made straight by clone3 in its namespaces, and through the intermediate (create.py).

Where a container has no user or time namespace and joins none, `create` clones the init
directly into its new namespaces (and its cgroup2 directory); BASTION_TEST_INIT_SPAWN=
intermediate forces the older way (an intermediate unshares, then forks the init). Both must
give the container exactly the same namespaces, cgroups and views of them, with each cgroup
attach path (BASTION_TEST_CGROUP_ATTACH); and the direct way must really make one process less.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest

from bastion.runtime.cgroups.attach import ENV as ATTACH_ENV
from bastion.runtime.cgroups.attach import FORCE_FORK, FORCE_PROCS
from bastion.runtime.create import FORCE_INTERMEDIATE, SPAWN_ENV
from bastion_testing.bundle import read_config
from bastion_testing.runc import wait_no_leftovers

if TYPE_CHECKING:
    from bastion_testing.plugin import BundleFactory
    from bastion_testing.runc import Runc

pytestmark = pytest.mark.privileged

NAMESPACES = ("pid", "net", "ipc", "uts", "mnt", "cgroup", "user", "time")
# (spawn, cgroup attach) pairs; the first is the default of both
WAYS = [
    ("", ""),
    ("", FORCE_FORK),
    ("", FORCE_PROCS),
    (FORCE_INTERMEDIATE, ""),
    (FORCE_INTERMEDIATE, FORCE_PROCS),
]


def _env(spawn: str, attach: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (SPAWN_ENV, ATTACH_ENV)}
    if spawn:
        env[SPAWN_ENV] = spawn
    if attach:
        env[ATTACH_ENV] = attach
    return env


def _ns(pid: int | str, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def _view(runc: Runc, container_id: str, cgroup: str, hostname: str) -> dict[str, object]:
    """What the container is, seen from the host and from inside, with the paths made neutral."""
    init = int(runc.state(container_id)["pid"])
    with open(f"/proc/{init}/cgroup") as f:
        host_cgroups = [
            line.rsplit(":", 1)[0] + (":<c>" if line.endswith(":" + cgroup) else ":other")
            for line in f.read().splitlines()
        ]
    inside = runc(
        "exec", container_id, "sh", "-c",
        "cat /proc/self/cgroup; echo; hostname; echo $$; cat /proc/1/cmdline; echo;"
        " for n in 1/ns/pid self/ns/pid 1/ns/cgroup self/ns/cgroup; do readlink /proc/$n; done",
        check=True,
    ).stdout  # fmt: skip
    own = {kind: _ns(init, kind) != _ns("self", kind) for kind in NAMESPACES}
    with open(f"/proc/{init}/status") as f:
        status = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
    return {
        "host cgroups": host_cgroups,
        "own namespaces": own,
        "inside": inside.replace(hostname, "<hostname>"),
        "init": [status["Name"], status["NSpid"].split()[-1], status["CapEff"]],
    }


def _strip_ns_ids(text: str) -> str:
    return re.sub(r"\[\d+\]", "[n]", text)


def test_every_way_gives_the_same_container(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    views: dict[tuple[str, str], dict[str, object]] = {}
    for spawn, attach in WAYS:
        bundle = bundle_factory(args=["sleep", "600"])
        config = read_config(bundle)
        cid = f"{container_id}-{spawn[:1] or 'd'}{attach[:2]}"
        runc("create", "--bundle", bundle, cid, check=True, env=_env(spawn, attach))
        try:
            runc("start", cid, check=True)
            view = _view(runc, cid, config["linux"]["cgroupsPath"], config["hostname"])
        finally:
            runc("delete", "--force", cid, check=True)
        assert wait_no_leftovers(runc.root, cid, bundle) == []
        views[(spawn, attach)] = view
    first = views[WAYS[0]]
    own = first["own namespaces"]
    assert own == {
        "pid": True, "net": True, "ipc": True, "uts": True, "mnt": True, "cgroup": True,
        "user": False, "time": False,
    }  # fmt: skip
    host_cgroups = first["host cgroups"]
    assert isinstance(host_cgroups, list)
    assert all(line.endswith(":<c>") for line in host_cgroups if ":name=" not in line)
    inside = str(first["inside"]).splitlines()
    # inside: every hierarchy rooted at the container's cgroup, pid 1 is sleep, and the init's
    # pid and cgroup namespaces are the exec'd shell's
    assert {line.rsplit(":", 1)[1] for line in inside[: inside.index("")]} == {"/"}
    assert inside[inside.index("") + 1] == "<hostname>"
    assert inside[-5] == "sleep\x00600\x00"
    assert inside[-4] == inside[-3] and inside[-2] == inside[-1]
    for way, view in views.items():
        view["inside"] = _strip_ns_ids(str(view["inside"]))
        assert view == {**first, "inside": _strip_ns_ids(str(first["inside"]))}, way


def _clones(runc: Runc, bundle: str, cid: str, env: dict[str, str]) -> list[str]:
    """The clone and clone3 calls of one `run` of /bin/true (strace -f), with their flags."""
    strace = shutil.which("strace")
    assert strace is not None
    trace = subprocess.run(
        [strace, "-f", "-qq", "-e", "trace=clone,clone3", "-e", "signal=none",
         *runc.argv("run", "--bundle", bundle, cid)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert trace.returncode == 0, trace.stderr
    return [line for line in trace.stderr.splitlines() if re.search(r"\bclone3?\(", line)]


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
@pytest.mark.parametrize(
    ("spawn", "processes"), [("", 1), (FORCE_INTERMEDIATE, 2)], ids=["direct", "intermediate"]
)
def test_the_direct_way_makes_one_process_less(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, spawn: str, processes: int
) -> None:
    bundle = bundle_factory(args=["true"])
    try:
        clones = _clones(runc, bundle, container_id, _env(spawn, ""))
    finally:
        runc("delete", "--force", container_id, check=True)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []
    assert len(clones) == processes, clones
    # the init's pid namespace is made by the clone itself or by the intermediate's unshare
    assert ("CLONE_NEWPID" in clones[0]) is (spawn == ""), clones


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_a_time_namespace_still_goes_through_the_intermediate(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    # (a new time namespace, like a pid one, applies to the children of who unshares it; the
    # offsets are written in between, so the intermediate stays; the user namespace likewise)
    bundle = bundle_factory(
        args=["true"],
        linux__namespaces=[{"type": t} for t in ("pid", "mount", "uts", "ipc", "time")],
        linux__timeOffsets={"boottime": {"secs": 86400, "nanosecs": 0}},
    )
    try:
        clones = _clones(runc, bundle, container_id, _env("", ""))
    finally:
        runc("delete", "--force", container_id, check=True)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []
    assert len(clones) == 2, clones


def test_a_container_without_a_pid_namespace_runs_the_direct_way(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(
        args=["sh", "-c", "echo $$ > /dev/null; cat /proc/self/stat"],
        linux__namespaces=[{"type": t} for t in ("mount", "uts", "ipc", "network")],
    )
    result = runc("run", "--bundle", bundle, container_id)
    runc("delete", "--force", container_id)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[0]) > 1  # a host pid: no pid namespace was made
    assert wait_no_leftovers(runc.root, container_id, bundle) == []
