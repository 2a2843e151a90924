"""What the bridge costs a `run --rm IMAGE true`: a bridge network against `--network none`,
for bastion and for Podman side by side in the same run.

    .venv/bin/python bench/network_run.py [--runs N] [--warmup N] [--no-podman]

bench/engine_run.py's `engines()` gives both engines over private roots with the busybox test
image (a registry on 127.0.0.1); bastion has a network prefix and a free /24 of the bench's own
(never bastion0 nor `inet bastion`). Each round runs every row once, in an order rotated each
round (bench/timing.py); the CPU column is every process of a trial (engine_run's TreeLocal).
Prints medians, the paired per-round differences bridge - none (each engine's bridge cost) and
the load average.

Podman's bridge here is a CNI network of the bench's own (this Podman's backend is CNI): a
conflist in a private `--network-config-dir` with the `bridge` plugin alone (a bridge `bstp*`,
host-local addresses kept in the private directory, a free /24), without `ipMasq`, `portmap`
or `firewall`, which would write iptables rules into the host's shared tables. So its figure
is a lower bound of what Podman's default network (with those plugins, or netavark's rules)
costs; the issue's reference for Podman/netavark is ~190 ms. The bridge and the directory are
removed at the end, with everything else.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
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

from bench.engine_run import PODMAN_LIMITS, TreeLocal, engines
from bench.timing import ENV, Row, Spawner, Step, report, run_rounds


@contextlib.contextmanager
def podman_network(podman: list[str]) -> Iterator[tuple[list[str], str]]:
    """Podman with a private CNI network (see above): (argv, network name)."""
    from bastion_testing.engine import free_subnet

    directory = tempfile.mkdtemp(prefix="bst-test-bench-podnet-")
    tag = secrets.token_hex(2)
    name, bridge = f"bstpod{tag}", f"bstp{tag}0"
    subnet = free_subnet()
    plugin = {
        "type": "bridge",
        "bridge": bridge,
        "isGateway": True,
        "ipMasq": False,
        "hairpinMode": True,
        "ipam": {
            "type": "host-local",
            "routes": [{"dst": "0.0.0.0/0"}],
            "ranges": [[{"subnet": subnet, "gateway": subnet.rsplit(".", 1)[0] + ".1"}]],
            "dataDir": os.path.join(directory, "ipam"),
        },
    }
    with open(os.path.join(directory, f"{name}.conflist"), "w") as f:
        json.dump({"cniVersion": "0.4.0", "name": name, "plugins": [plugin]}, f)
    try:
        yield [*podman, "--network-config-dir", directory], name
    finally:
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--no-podman", action="store_true", help="bastion's rows only")
    args = parser.parse_args()
    with (
        engines() as (bastion, podman_argv, image),
        podman_network(podman_argv) as (podman, podman_net),
        tempfile.TemporaryDirectory() as tmp,
    ):
        spawner = Spawner(os.path.join(tmp, "stderr"), 60)
        local = TreeLocal(spawner)

        def row(name: str, argv: list[str]) -> Row:
            return Row(
                name, " ".join(argv[argv.index("run") :]), lambda: local.measure([Step(argv)])
            )

        try:
            # the default network made once, outside the clock (its bridge and table)
            subprocess.run([*bastion, "run", "--rm", image, "true"], check=True, env=ENV)
            run = ["run", "--rm", "--network"]
            rows = [
                row("bastion run --rm (none)", [*bastion, *run, "none", image, "true"]),
                row("bastion run --rm (bridge)", [*bastion, *run, "bridge", image, "true"]),
            ]
            if not args.no_podman:
                for label, network in (("none", "none"), ("bridge", podman_net)):
                    argv = [*podman, *run, network, *PODMAN_LIMITS, image, "true"]
                    rows.append(row(f"podman run --rm ({label})", argv))
            run_rounds("bridge", rows, args.runs, args.warmup)
            report("bridge", "run --rm IMAGE true: --network none against a bridge", rows)
            differences("bastion", rows[0], rows[1])
            if not args.no_podman:
                differences("podman", rows[2], rows[3])
        finally:
            spawner.close()
    print(f"load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("podman/netavark (the issue's figure): bridge - none ~190 ms; target < ~47 ms")


def differences(engine: str, none: Row, bridge: Row) -> None:
    """The bridge's cost: the median over rounds of bridge - none (wall and CPU)."""

    def paired(a: list[int | None], b: list[int | None]) -> float | None:
        diffs = [(y - x) / 1e6 for x, y in zip(a, b, strict=True) if x is not None and y]
        return statistics.median(diffs) if diffs else None

    wall = paired(none.samples_ns, bridge.samples_ns)
    cpu = paired(none.cpu_ns, bridge.cpu_ns)
    print(
        f"{engine}: bridge - none (median of per-round differences): "
        + (f"wall {wall:+.1f} ms" if wall is not None else "wall n/a")
        + (f", CPU {cpu:+.1f} ms" if cpu is not None else "")
    )


if __name__ == "__main__":
    main()
