"""Memory per running container: N detached `sleep` containers of bastion and of podman.

    .venv/bin/python bench/engine_memory.py [--containers N] [--rounds R]

Both engines get the busybox test image as in bench/engine_run.py (private roots, a loopback
registry, podman with runc, cgroupfs, `--network none` and this host's ulimits). Each round,
for each engine in turn (the order alternates): the host's MemAvailable (/proc/meminfo, the
median of 5 reads), then N `run -d IMAGE sleep 600`, then, once they all run:
- RSS and PSS (/proc/PID/smaps_rollup) of their conmon processes, per container;
- every other process of the engine left running per container (its command line names the
  engine's root): bastion keeps none, nor does podman without a pod or a healthcheck;
- the host's MemAvailable again: the drop per container is the monitor, the container's
  process, its overlay, cgroups and namespaces, and whatever the engine keeps.
Then `rm -f` of them all, and MemAvailable once more (the rise is a second sample).
MemAvailable is the whole host's: other work on a shared machine moves it by more than the
~1 MiB per container measured, so read its median only on a quiet machine; RSS/PSS are exact.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "helpers")
)

from bench.timing import ENV

PODMAN_LIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")


def mem_available_kib() -> int:
    reads = []
    for _ in range(5):
        with open("/proc/meminfo") as f:
            reads += [int(line.split()[1]) for line in f if line.startswith("MemAvailable:")]
        time.sleep(0.05)
    return int(statistics.median(reads))


def engine_processes(marker: str) -> dict[str, list[int]]:
    """The processes whose command line names `marker` (the engine's root), by program."""
    found: dict[str, list[int]] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and any(marker.encode() in a for a in argv):
            found.setdefault(os.path.basename(argv[0].decode(errors="replace")), []).append(
                int(pid)
            )
    return found


def rss_pss_kib(pids: list[int]) -> tuple[int, int]:
    rss = pss = 0
    for pid in pids:
        try:
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


def reap() -> None:
    """conmon double-forks: when the caller is a child subreaper (engine_run.py), the ones that
    ended are ours to wait for."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def one(name: str, tool: list[str], extra: tuple[str, ...], image: str, n: int) -> dict[str, float]:
    marker = tool[tool.index("--root") + 1]
    rm_flags = ("-t", "0") if name == "podman" else ()
    before = mem_available_kib()
    names = [f"bst-mem-{i}" for i in range(n)]
    try:
        for container in names:
            subprocess.run(
                [*tool, "run", "-d", "--name", container, *extra, image, "sleep", "600"],
                check=True,
                env=ENV,
                capture_output=True,
            )
        time.sleep(0.5)  # let the last ones settle (their runtime processes have exited)
        after = mem_available_kib()
        procs = engine_processes(marker)
        rss, pss = rss_pss_kib(procs.get("conmon", []))
        others = {k: len(v) for k, v in procs.items() if k != "conmon"}
    finally:
        subprocess.run([*tool, "rm", "-f", *rm_flags, *names], check=False, capture_output=True)
        reap()
    time.sleep(0.5)
    freed = mem_available_kib()
    return {
        "conmon_rss_mib": rss / n / 1024,
        "conmon_pss_mib": pss / n / 1024,
        # the drop when they started and the rise when they went: two samples of one figure
        "host_mib": (before - after) / n / 1024,
        "host_freed_mib": (freed - after) / n / 1024,
        "conmons": len(procs.get("conmon", [])),
        "other_processes": sum(others.values()),
    }


def measure_memory(
    bastion: list[str], podman: list[str], image: str, n: int, rounds: int = 2
) -> None:
    tools = [
        ("bastion", bastion, ()),
        ("podman", podman, ("--network", "none", *PODMAN_LIMITS)),
    ]
    results: dict[str, list[dict[str, float]]] = {"bastion": [], "podman": []}
    for r in range(rounds):
        for name, tool, extra in tools[r % 2 :] + tools[: r % 2]:
            results[name].append(one(name, tool, extra, image, n))
    print(f"\n## memory per running container ({n} detached `sleep` of each, {rounds} rounds)")
    print(f"{'engine':<8} {'conmon RSS':>11} {'conmon PSS':>11}  host MemAvailable per container")
    for name, rows in results.items():
        rss = statistics.median(row["conmon_rss_mib"] for row in rows)
        pss = statistics.median(row["conmon_pss_mib"] for row in rows)
        host = sorted([row["host_mib"] for row in rows] + [row["host_freed_mib"] for row in rows])
        others = max(row["other_processes"] for row in rows)
        conmons = min(row["conmons"] for row in rows)
        print(
            f"{name:<8} {rss:>7.2f} MiB {pss:>7.2f} MiB  median {statistics.median(host):.2f} MiB "
            f"(range {host[0]:.2f} to {host[-1]:.2f})  "
            f"({conmons} conmons for {n}; other processes kept: {others})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from bench.engine_run import engines

    with engines() as (bastion, podman, image):
        measure_memory(bastion, podman, image, args.containers, args.rounds)


if __name__ == "__main__":
    main()
