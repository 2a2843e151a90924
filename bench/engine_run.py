"""`bastion run --rm IMAGE true` side by side with `podman run --rm` of the same image.

    .venv/bin/python bench/engine_run.py [--runs N]

A registry on 127.0.0.1 (Debian's docker-registry, the tests' helper) gets the busybox test
image; bastion (a private engine root, cgroups under /bastion-test) and podman (private
--root/--runroot, overlay storage, cgroupfs, runc: crun refuses this host's hybrid cgroups) pull
it, then each round runs both once, in an order rotated each round (bench/timing.py), for:
- `run --rm IMAGE true` (`--network none` for both; podman also needs this host's ulimits);
- `run -d IMAGE sleep 60` then `rm -f`;
- memory per running container: `--containers N` detached `sleep` containers of each tool, then
  the RSS and PSS (`/proc/PID/smaps_rollup`) of their conmon processes, per container.
Prints medians, p90s and the paired ratio bastion/podman. Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "helpers")
)

from bench.timing import ENV, Local, Row, Spawner, Step, paired_ratio, report, run_rounds

PODMAN_LIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--containers", type=int, default=10)
    args = parser.parse_args()
    from bastion_testing.layers import tar_directory, write_oci_image
    from bastion_testing.registry import skopeo_copy, start_registry
    from bastion_testing.rootfs import busybox_rootfs

    work = tempfile.mkdtemp(prefix="bst-test-bench-engine-")
    runroot = tempfile.mkdtemp(prefix="bst-pr-", dir="/tmp")  # podman: runroot < 50 chars
    registry = start_registry(os.path.join(work, "registry"))
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
    spawner = Spawner(os.path.join(work, "stderr"), 60)
    local = Local(spawner)
    try:
        source = os.path.join(work, "source")
        write_oci_image(source, "busybox", [tar_directory(busybox_rootfs())])
        image = f"{registry.host}/busybox:latest"
        skopeo_copy(
            f"oci:{source}:busybox", f"docker://{image}", "--dest-tls-verify=false", workdir=work
        )
        subprocess.run([*bastion, "pull", "-q", image], check=True, env=ENV, capture_output=True)
        subprocess.run(
            [*podman, "pull", "-q", "--tls-verify=false", image],
            check=True,
            env=ENV,
            capture_output=True,
        )
        rows = [
            Row(
                "bastion run --rm",
                "bastion run --rm IMAGE true",
                lambda: local.measure([Step([*bastion, "run", "--rm", image, "true"])]),
            ),
            Row(
                "podman run --rm",
                "podman run --rm --network none --ulimit ... IMAGE true",
                lambda: local.measure(
                    [
                        Step(
                            [
                                *podman,
                                "run",
                                "--rm",
                                "--network",
                                "none",
                                *PODMAN_LIMITS,
                                image,
                                "true",
                            ]
                        )
                    ]
                ),
            ),
        ]
        run_rounds("run --rm", rows, args.runs, args.warmup)
        report("run --rm", "run --rm IMAGE true", rows)
        ratio = paired_ratio(rows[0].samples_ns, rows[1].samples_ns)
        print(f"bastion/podman (paired median): {ratio:.2f}" if ratio else "no ratio")

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
            detached(bastion, (), ()),
            detached(podman, ("--network", "none", *PODMAN_LIMITS), ("-t", "0")),
        ]
        run_rounds("run -d ; rm -f", rows, args.runs, args.warmup)
        report("run -d ; rm -f", "run -d IMAGE sleep 60, then rm -f", rows)
        ratio = paired_ratio(rows[0].samples_ns, rows[1].samples_ns)
        print(f"bastion/podman (paired median): {ratio:.2f}" if ratio else "no ratio")
        print(f"\n## memory per running container ({args.containers} detached of each)")
        for name, tool, extra in (
            ("bastion", bastion, ()),
            ("podman", podman, ("--network", "none", *PODMAN_LIMITS)),
        ):
            for i in range(args.containers):
                subprocess.run(
                    [*tool, "run", "-d", "--name", f"bst-mem-{i}", *extra, image, "sleep", "600"],
                    check=True,
                    env=ENV,
                    capture_output=True,
                )
            rss, pss = conmon_memory(f"{work}/engine" if name == "bastion" else f"{work}/podman")
            n = args.containers
            per_rss, per_pss = rss / n / 1024, pss / n / 1024
            print(f"{name:<8} conmon per container: RSS {per_rss:.2f} MiB, PSS {per_pss:.2f} MiB")
            names = [f"bst-mem-{i}" for i in range(n)]
            rm = [*tool, "rm", "-f", *(("-t", "0") if name == "podman" else ()), *names]
            subprocess.run(rm, check=False, env=ENV, capture_output=True)
    finally:
        spawner.close()
        subprocess.run([*bastion, "rm", "-f", "bst-bench"], capture_output=True, check=False)
        subprocess.run([*podman, "rm", "-f", "-a"], capture_output=True, check=False)
        subprocess.run([*podman, "system", "reset", "-f"], capture_output=True, check=False)
        registry.stop()
        shutil.rmtree(runroot, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def conmon_memory(marker: str) -> tuple[int, int]:
    """Total RSS and PSS (KiB) of the conmon processes whose command line names `marker`."""
    rss = pss = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            if not argv[0].endswith(b"conmon") or not any(marker.encode() in a for a in argv):
                continue
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key == "Rss":
                        rss += int(value.split()[0])
                    elif key == "Pss":
                        pss += int(value.split()[0])
        except OSError:
            continue
    return rss, pss


if __name__ == "__main__":
    main()
