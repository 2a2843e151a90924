"""The Docker API's cost: `docker run --rm IMAGE true` through bastion's socket, beside `bastion
run --rm` (the same engine without the API) and `podman run --rm`; then docker-py's
`containers.run(..., remove=True)` N times in a row through bastion's socket and through
`podman system service` (Debian's Podman 4.3, runc), same image.

    .venv/bin/python bench/api_run.py [--runs N] [--sequential N] [--trace]

Both engines run over private roots with the busybox test image from a loopback registry
(bench/engine_run.py's `engines`); each serves the API on a private unix socket
(`bastion system service unix://...`, `podman system service --time 0 unix://...`). Every
container gets `--network none` and Podman's ulimits for this host (both engines, for the same
work). Rows alternate round by round (bench/timing.py). Wall time only: the services' CPU is
spent in long-lived processes that a trial does not own. Everything is removed at the end.

`--trace` runs bastion's service with `BASTION_API_TRACE` (src/bastion/api/trace.py) and
prints where the API row's time goes (bench/api_trace.py): the server's steps between the
docker CLI's start and its exit, medians over the timed trials.
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
import time
from collections.abc import Iterator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "helpers"))

from bench.api_trace import Windows, print_breakdown  # noqa: E402
from bench.engine_run import PODMAN_LIMITS, TreeLocal, engines  # noqa: E402
from bench.timing import ENV, Row, Spawner, Step, paired_ratio, report, run_rounds  # noqa: E402

DOCKER = shutil.which("docker") or "/usr/bin/docker"
NONE = ("--network", "none")


@contextlib.contextmanager
def service(
    argv: list[str], socket: str, log: str, env: dict[str, str] | None = None
) -> Iterator[str]:
    """A running API service listening on `socket`; stopped (SIGTERM, by pid) at the end."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=out, env={**ENV, **(env or {})})
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(socket):
            if proc.poll() is not None or time.monotonic() > deadline:
                with open(log, errors="replace") as f:
                    raise SystemExit(f"{argv[0]} system service did not start:\n{f.read()}")
            time.sleep(0.05)
        yield f"unix://{socket}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def docker_py_runs(host: str, image: str, count: int) -> float | None:
    """Seconds for `count` sequential containers.run(image, "true", remove=True); None (and
    what failed, on stderr) if one of them fails or times out."""
    import docker  # type: ignore[import-untyped]
    from docker.types import Ulimit  # type: ignore[import-untyped]

    client = docker.DockerClient(base_url=host, version="1.41", timeout=120)
    limits = [
        Ulimit(name="nofile", soft=1024, hard=1024),
        Ulimit(name="nproc", soft=1024, hard=1024),
    ]
    try:
        started = time.perf_counter()
        for done in range(count):
            try:
                client.containers.run(
                    image, "true", remove=True, network_mode="none", ulimits=limits
                )
            except Exception as exc:
                print(f"docker-py through {host}: run {done + 1} failed: {exc}", file=sys.stderr)
                return None
        return time.perf_counter() - started
    finally:
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--sequential", type=int, default=100, help="docker-py runs per engine (0: none)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="times each docker-py batch runs")
    parser.add_argument("--trace", action="store_true", help="where the API row's time goes")
    args = parser.parse_args()
    with (
        engines() as (bastion, podman, image),
        tempfile.TemporaryDirectory(prefix="bst-api-", dir="/tmp") as tmp,
    ):
        bastion_socket, podman_socket = f"{tmp}/bastion.sock", f"{tmp}/podman.sock"
        trace = f"{tmp}/api.trace"
        windows = Windows()
        # Podman's service ends a followed log when an event says the container exited: with
        # engine_run's "--events-backend none" docker-py's attached run would never return.
        podman = [
            ("file" if p == "none" and podman[i - 1] == "--events-backend" else p)
            for i, p in enumerate(podman)
        ]
        with (
            service(
                [*bastion, "system", "service", f"unix://{bastion_socket}"],
                bastion_socket,
                f"{tmp}/bastion.log",
                {"BASTION_API_TRACE": trace} if args.trace else None,
            ) as bastion_host,
            service(
                [*podman, "system", "service", "--time", "0", f"unix://{podman_socket}"],
                podman_socket,
                f"{tmp}/podman.log",
            ) as podman_host,
        ):
            spawner = Spawner(os.path.join(tmp, "stderr"), 60)
            local = TreeLocal(spawner)
            try:
                run = ("run", "--rm", *NONE, *PODMAN_LIMITS, image, "true")
                rows = [
                    Row(
                        "docker → bastion",
                        "docker run --rm (bastion's socket)",
                        windows.timed(
                            lambda: local.measure([Step([DOCKER, "-H", bastion_host, *run])])
                        ),
                    ),
                    Row(
                        "bastion run --rm",
                        "bastion run --rm (no API)",
                        lambda: local.measure([Step([*bastion, *run])]),
                    ),
                    Row(
                        "podman run --rm",
                        "podman run --rm (its CLI, runc)",
                        lambda: local.measure([Step([*podman, *run])]),
                    ),
                    Row(
                        "docker → podman",
                        "docker run --rm (podman's socket)",
                        lambda: local.measure([Step([DOCKER, "-H", podman_host, *run])]),
                    ),
                ]
                run_rounds("run --rm", rows, args.runs, args.warmup)
                report("run --rm", "run --rm IMAGE true, wall time", rows)
                api, direct, podman_cli = rows[0], rows[1], rows[2]
                for label, a, b in (
                    ("API path / bastion run", api, direct),
                    ("API path / podman run (target <= 0.6)", api, podman_cli),
                    ("API path / docker → podman", api, rows[3]),
                ):
                    ratio = paired_ratio(a.samples_ns, b.samples_ns)
                    print(f"  {label}: {ratio:.2f}" if ratio else f"  {label}: no ratio")
                if args.trace:
                    print_breakdown(trace, windows.spans[args.warmup :])
            finally:
                spawner.close()
            if args.sequential <= 0:
                print(f"load average: {os.getloadavg()[0]:.2f}")
                return 0
            times: dict[str, list[float]] = {"bastion": [], "podman": []}
            for round_ in range(args.repeat):
                order = [("bastion", bastion_host), ("podman", podman_host)]
                for name, host in order if round_ % 2 == 0 else order[::-1]:
                    taken = docker_py_runs(host, image, args.sequential)
                    if taken is not None:
                        times[name].append(taken)
            print(
                f"\ndocker-py: {args.sequential} sequential containers.run(remove=True), "
                f"median of the batches that succeeded (of {args.repeat})"
            )
            for name, batches in times.items():
                if batches:
                    each = statistics.median(batches) / args.sequential * 1e3
                    shown = f"{statistics.median(batches):.2f} s ({each:.0f} ms each)"
                else:
                    shown = "no batch succeeded"
                print(f"  {name:<7} {shown}  [{len(batches)} batches]")
            if times["bastion"] and times["podman"]:
                ours = statistics.median(times["bastion"])
                theirs = statistics.median(times["podman"])
                print(f"  bastion/podman: {ours / theirs:.2f} (target <= 0.7)")
    print(f"load average: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
