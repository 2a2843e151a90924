"""`bastion run --rm IMAGE true` side by side with `podman run --rm` of the same image.

    .venv/bin/python bench/engine_run.py [--runs N] [--baseline LAUNCHER]

A registry on 127.0.0.1 (Debian's docker-registry, the tests' helper) gets the busybox test
image; bastion (a private engine root, cgroups under /bastion-test) and podman (private
--root/--runroot, overlay storage, cgroupfs, runc: crun refuses this host's hybrid cgroups) pull
it, then each round runs both once, in an order rotated each round (bench/timing.py), for:
- `run --rm IMAGE true` (`--network none` for both; podman also needs this host's ulimits);
- `run -d IMAGE sleep 60` then `rm -f`;
- memory per running container (bench/engine_memory.py) with `--containers N` (0: skip).
The CPU column is every process of a trial (the CLI, conmon, the runtime, the container, podman's
cleanup): the bench is a child subreaper and waits for them all after the clock stops.
Prints medians, p90s and the paired ratios bastion/podman. Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "helpers")
)

from bench.timing import (
    ENV,
    Local,
    Row,
    Sample,
    Spawner,
    Step,
    paired_ratio,
    report,
    run_rounds,
)

PODMAN_LIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")


@contextlib.contextmanager
def engines(*, with_podman: bool = True) -> Iterator[tuple[list[str], list[str], str]]:
    """Both engines over private roots, each with the busybox test image pulled from a
    loopback registry: (bastion argv, podman argv, image); without `with_podman`, bastion alone
    (podman's argv is still given, nothing is made for it). Everything is removed at the
    end."""
    from bastion_testing.layers import tar_directory, write_oci_image
    from bastion_testing.registry import skopeo_copy, start_registry
    from bastion_testing.rootfs import busybox_rootfs

    work = tempfile.mkdtemp(prefix="bst-test-bench-engine-")
    runroot = tempfile.mkdtemp(prefix="bst-pr-", dir="/tmp")  # podman: runroot < 50 chars
    registry = start_registry(os.path.join(work, "registry"))
    # the bridge rows' network: a prefix and a free /24 of the bench's own, never bastion0
    from bastion_testing.engine import network_env

    net_env = network_env()
    os.environ.update(net_env)
    ENV.update(net_env)
    bastion_bin = os.path.join(os.path.dirname(sys.executable), "bastion")
    bastion = [
        bastion_bin,
        *("--root", f"{work}/engine", "--runtime-root", f"{work}/engine/rt"),
        *("--cgroup-parent", f"/bastion-test/{os.path.basename(work)}"),
    ]
    podman = [
        shutil.which("podman") or "podman",
        *("--root", f"{work}/podman", "--runroot", runroot, "--storage-driver", "overlay"),
        *("--cgroup-manager", "cgroupfs", "--events-backend", "none", "--runtime", "runc"),
    ]
    try:
        source = os.path.join(work, "source")
        write_oci_image(source, "busybox", [tar_directory(busybox_rootfs())])
        image = f"{registry.host}/busybox:latest"
        skopeo_copy(
            f"oci:{source}:busybox", f"docker://{image}", "--dest-tls-verify=false", workdir=work
        )
        subprocess.run([*bastion, "pull", "-q", image], check=True, env=ENV, capture_output=True)
        if with_podman:
            subprocess.run(
                [*podman, "pull", "-q", "--tls-verify=false", image],
                check=True,
                env=ENV,
                capture_output=True,
            )
        yield bastion, podman, image
    finally:
        subprocess.run([*bastion, "rm", "-f", "bst-bench"], capture_output=True, check=False)
        from bastion.engine import Engine
        from bastion.network.model import Naming

        naming = Naming(net_env["BASTION_NETWORK_PREFIX"], net_env["BASTION_NETWORK_SUBNET"])
        with Engine(f"{work}/engine", runtime_root=f"{work}/engine/rt", naming=naming) as engine:
            engine.reset_networks()  # its bridge and nft table
        if with_podman:
            subprocess.run([*podman, "rm", "-f", "-t", "0", "-a"], capture_output=True, check=False)
            subprocess.run([*podman, "system", "reset", "-f"], capture_output=True, check=False)
        registry.stop()
        # podman's overlay driver bind-mounts its storage on itself; a reset after a failed
        # run can leave it: nothing of ours stays mounted
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        for point in sorted(p for p in points if p.startswith((work, runroot)))[::-1]:
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        shutil.rmtree(runroot, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(OSError):  # the cgroup parent bastion-runc made
            for hierarchy in os.listdir("/sys/fs/cgroup"):
                parent = f"/sys/fs/cgroup/{hierarchy}/bastion-test/{os.path.basename(work)}"
                if os.path.isdir(parent):
                    os.rmdir(parent)


class TreeLocal:
    """`Local`, plus the CPU time of every process a trial left behind: the bench is a child
    subreaper, so conmon (which double-forks away from the CLI), the runtime it runs, the
    container it reaps and podman's cleanup process end up as our children; they are waited
    for after the clock stops and their CPU time (their own waited children included) is
    added to the sample's. That is the whole cost of a `run`, not only the CLI's."""

    def __init__(self, spawner: Spawner, timeout_s: float = 30) -> None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(36, ctypes.c_ulong(1), 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
            raise OSError(ctypes.get_errno(), "PR_SET_CHILD_SUBREAPER")
        self._local = Local(spawner)
        self._timeout_s = timeout_s
        self._keep = set(child_pids())  # the registry: never waited for here

    def measure(self, steps: list[Step]) -> Sample:
        sample = self._local.measure(steps)
        extra = 0
        deadline = time.monotonic() + self._timeout_s
        while time.monotonic() < deadline:
            left = [pid for pid in child_pids() if pid not in self._keep]
            if not left:
                break
            for pid in left:
                with contextlib.suppress(ChildProcessError):
                    done, _, usage = os.wait4(pid, os.WNOHANG)
                    if done:
                        extra += int((usage.ru_utime + usage.ru_stime) * 1e9)
            time.sleep(0.005)  # outside the clock
        return dataclasses.replace(sample, cpu_ns=sample.cpu_ns + extra)

    def close(self) -> None:
        self._keep = set()


def child_pids() -> list[int]:
    pids: list[int] = []
    for task in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError), open(f"/proc/self/task/{task}/children") as f:
            pids += [int(p) for p in f.read().split()]
    return pids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--containers", type=int, default=10)
    parser.add_argument("--bridge", action="store_true", help="also: the bridge's cost")
    parser.add_argument(
        "--baseline",
        metavar="LAUNCHER",
        help="also: `run --rm` through this other `bastion` launcher (another tree's, e.g. main's)"
        " on the same engine, alternated with ours: the change's own paired ratio",
    )
    args = parser.parse_args()
    with engines() as (bastion, podman, image), tempfile.TemporaryDirectory() as tmp:
        spawner = Spawner(os.path.join(tmp, "stderr"), 60)
        local = TreeLocal(spawner)
        try:
            bench(local, bastion, podman, image, args)
        finally:
            spawner.close()


def bench(
    local: TreeLocal, bastion: list[str], podman: list[str], image: str, args: argparse.Namespace
) -> None:
    none = ("--network", "none")  # both: the bridge is measured apart (--bridge)
    rows = [
        Row(
            "bastion run --rm",
            "bastion run --rm --network none IMAGE true",
            lambda: local.measure([Step([*bastion, "run", "--rm", *none, image, "true"])]),
        ),
        Row(
            "podman run --rm",
            "podman run --rm --network none --ulimit ... IMAGE true",
            lambda: local.measure(
                [Step([*podman, "run", "--rm", "--network", "none", *PODMAN_LIMITS, image, "true"])]
            ),
        ),
    ]
    if args.baseline:
        baseline = [args.baseline, *bastion[1:]]
        rows.append(
            Row(
                "baseline run --rm",
                f"{args.baseline} run --rm --network none IMAGE true",
                lambda: local.measure([Step([*baseline, "run", "--rm", *none, image, "true"])]),
            )
        )
    run_rounds("run --rm", rows, args.runs, args.warmup)
    report("run --rm", "run --rm IMAGE true (CPU: every process of the run)", rows)
    ratios(rows)
    if args.baseline:
        ratios([rows[0], rows[2]], "bastion/baseline")

    def detached(tool: list[str], extra: tuple[str, ...], rm: tuple[str, ...]) -> Row:
        name = os.path.basename(tool[0])
        steps = [
            Step([*tool, "run", "-d", "--name", "bst-bench", *extra, image, "sleep", "60"]),
            Step([*tool, "rm", "-f", *rm, "bst-bench"]),
        ]
        return Row(
            f"{name} run -d ; rm -f",
            "run -d IMAGE sleep 60 ; rm -f",
            lambda: local.measure(steps),
        )

    # podman's rm -f stops with SIGTERM and a 10 s grace (sleep as pid 1 ignores it): -t 0
    # makes it kill at once, as docker's and bastion's rm -f do
    rows = [
        detached(bastion, none, ()),
        detached(podman, (*none, *PODMAN_LIMITS), ("-t", "0")),
    ]
    run_rounds("run -d ; rm -f", rows, args.runs, args.warmup)
    report("run -d ; rm -f", "run -d IMAGE sleep 60, then rm -f", rows)
    ratios(rows)
    if args.bridge:
        # what the bridge costs bastion: the same run on the default bridge network against
        # --network none, side by side (Podman's bridge would make its own podman0 and rules
        # outside the test prefix: the figure for it, ~190 ms, is the reference)
        rows = [
            Row(
                "bastion run --rm (none)",
                "bastion run --rm --network none IMAGE true",
                lambda: local.measure([Step([*bastion, "run", "--rm", *none, image, "true"])]),
            ),
            Row(
                "bastion run --rm (bridge)",
                "bastion run --rm IMAGE true (the default bridge network)",
                lambda: local.measure([Step([*bastion, "run", "--rm", image, "true"])]),
            ),
        ]
        run_rounds("bridge", rows, args.runs, args.warmup)
        report("bridge", "run --rm IMAGE true: --network none against the bridge", rows)
    if args.containers:
        from bench.engine_memory import measure_memory

        measure_memory(bastion, podman, image, args.containers)


def ratios(rows: list[Row], what: str = "bastion/podman") -> None:
    wall = paired_ratio(rows[0].samples_ns, rows[1].samples_ns)
    cpu = paired_ratio(rows[0].cpu_ns, rows[1].cpu_ns)
    print(f"{what} (paired median): wall {wall:.2f}" if wall else "no ratio", end="")
    print(f", CPU {cpu:.2f}" if cpu else "")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
