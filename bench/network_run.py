"""What the bridge costs a `bastion run --rm IMAGE true`: the default bridge network against
`--network none`, side by side in the same run.

    .venv/bin/python bench/network_run.py [--runs N] [--warmup N]

A registry on 127.0.0.1 (Debian's docker-registry, the tests' helper) gets the busybox test
image; bastion (a private engine root, cgroups under /bastion-test, a network prefix and a free
/24 of the bench's own: never bastion0 nor `inet bastion`) pulls it. Each round runs both rows
once, in an order rotated each round (bench/timing.py); the CPU column is every process of a
trial (bench/engine_run.py's TreeLocal). Prints medians, p90s, the paired per-round difference
bridge - none (the bridge's cost) and the load average.

Podman's side is not measured here: its bridge (netavark) makes `podman0` and firewall rules
in the host's shared tables, which a bench on a shared machine must not touch. The issue's
figure for it is the reference: about 190 ms over Podman's own `--network none`, so the
target is < ~47 ms over bastion's.

Everything is removed at the end (containers, the network's bridge and nft table, the root).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "helpers")
)

from bench.engine_run import TreeLocal
from bench.timing import ENV, Row, Spawner, Step, report, run_rounds


@contextlib.contextmanager
def engine() -> Iterator[tuple[list[str], str]]:
    """bastion over a private root with the busybox test image: (argv, image)."""
    from bastion_testing.engine import network_env
    from bastion_testing.layers import tar_directory, write_oci_image
    from bastion_testing.registry import skopeo_copy, start_registry
    from bastion_testing.rootfs import busybox_rootfs

    work = tempfile.mkdtemp(prefix="bst-test-bench-net-")
    registry = start_registry(os.path.join(work, "registry"))
    net_env = network_env()
    os.environ.update(net_env)
    ENV.update(net_env)
    bastion = [
        os.path.join(os.path.dirname(sys.executable), "bastion"),
        *("--root", f"{work}/engine", "--runtime-root", f"{work}/engine/rt"),
        *("--cgroup-parent", f"/bastion-test/{os.path.basename(work)}"),
    ]
    try:
        source = os.path.join(work, "source")
        write_oci_image(source, "busybox", [tar_directory(busybox_rootfs())])
        image = f"{registry.host}/busybox:latest"
        skopeo_copy(
            f"oci:{source}:busybox", f"docker://{image}", "--dest-tls-verify=false", workdir=work
        )
        subprocess.run([*bastion, "pull", "-q", image], check=True, env=ENV, capture_output=True)
        yield bastion, image
    finally:
        from bastion.engine import Engine
        from bastion.network.model import Naming

        naming = Naming(net_env["BASTION_NETWORK_PREFIX"], net_env["BASTION_NETWORK_SUBNET"])
        with Engine(f"{work}/engine", runtime_root=f"{work}/engine/rt", naming=naming) as eng:
            eng.reset_networks()  # its bridge and nft table
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(OSError):  # the cgroup parent bastion-runc made
            for hierarchy in os.listdir("/sys/fs/cgroup"):
                parent = f"/sys/fs/cgroup/{hierarchy}/bastion-test/{os.path.basename(work)}"
                if os.path.isdir(parent):
                    os.rmdir(parent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    with engine() as (bastion, image), tempfile.TemporaryDirectory() as tmp:
        spawner = Spawner(os.path.join(tmp, "stderr"), 60)
        local = TreeLocal(spawner)
        try:
            # the default network made once, outside the clock (its bridge and table)
            subprocess.run([*bastion, "run", "--rm", image, "true"], check=True, env=ENV)
            rows = [
                Row(
                    "bastion run --rm (none)",
                    "bastion run --rm --network none IMAGE true",
                    lambda: local.measure(
                        [Step([*bastion, "run", "--rm", "--network", "none", image, "true"])]
                    ),
                ),
                Row(
                    "bastion run --rm (bridge)",
                    "bastion run --rm --network bridge IMAGE true",
                    lambda: local.measure(
                        [Step([*bastion, "run", "--rm", "--network", "bridge", image, "true"])]
                    ),
                ),
            ]
            run_rounds("bridge", rows, args.runs, args.warmup)
            report("bridge", "run --rm IMAGE true: --network none against the bridge", rows)
            differences(rows)
        finally:
            spawner.close()
    print(f"load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("podman (issue's figure, not measured here): bridge - none ~190 ms; target < ~47 ms")


def differences(rows: list[Row]) -> None:
    """The bridge's cost: the median over rounds of bridge - none (wall and CPU)."""
    none, bridge = rows

    def paired(a: list[int | None], b: list[int | None]) -> float | None:
        diffs = [(y - x) / 1e6 for x, y in zip(a, b, strict=True) if x is not None and y]
        return statistics.median(diffs) if diffs else None

    wall = paired(none.samples_ns, bridge.samples_ns)
    cpu = paired(none.cpu_ns, bridge.cpu_ns)
    print(
        "bridge - none (median of per-round differences): "
        + (f"wall {wall:+.1f} ms" if wall is not None else "wall n/a")
        + (f", CPU {cpu:+.1f} ms" if cpu is not None else "")
    )


if __name__ == "__main__":
    main()
