"""How long `exec` into a running container takes with bastion-runc, beside runc, crun and floors.

    .venv/bin/python bench/runtime_exec.py [--runs N] [--warmup N] [--bastion PATH]

Each runtime starts one container (`create` + `start`, untimed) running `sleep 3600` from the same
busybox bundle. Then N rounds after 3 warm-up rounds: in every round each row runs once, in an order
rotated by one each round, so slow drifts of the machine hit every tool alike:
- `<runtime> --root DIR exec ID /bin/true` for bastion-runc, runc and crun, each into its own
  container;
- floors: `nsenter -t PID -a /bin/true` into one of those containers (runc's when it runs; the
  namespaces alone, no runtime) and `/usr/bin/python3 -S -c pass` (a Python process, which
  bastion-runc is).
It prints medians, p90s and the ratios bastion-runc/runc and bastion-runc/crun, and writes
everything (raw samples too) to bench/results/runtime_exec-<timestamp>.json.

crun runs in a worker inside one private mount namespace with /sys/fs/cgroup/unified unmounted
(bench/bundle.py), as in runtime_start.py: its container is created there and exec'd into from
there. The containers, their cgroups (`/bastion-bench/...` in every hierarchy) and the temp dirs
are removed at the end, also on failure, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
from dataclasses import dataclass

# Run as a script (bench/ is sys.path[0]); the repository root makes `bench` importable.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import bundle, host
from bench.bundle import Runtime
from bench.timing import Local, Row, Step, floor_row, report, run_rounds

PYTHON_FLOOR = ["/usr/bin/python3", "-S", "-c", "pass"]
#: The process of every bench container: it must outlive the bench (it is deleted at the end).
CONTAINER_ARGS = ["/bin/sleep", "3600"]
#: Whose container the nsenter floor enters, first one running.
FLOOR_TARGETS = ("runc", "bastion-runc", "crun")


@dataclass(frozen=True, slots=True)
class Running:
    """A started container: its id and its init's pid (in the host's pid namespace)."""

    cid: str
    pid: int


def start_container(rt: Runtime, work: str) -> Running | None:
    """`create --pid-file` + `start` of one `sleep 3600` container; None (and rt.problem) if not."""
    if rt.problem is not None:
        return None
    cid = rt.new_container()
    pid_file = os.path.join(work, f"{cid}.pid")
    sample = rt.measure(
        [
            Step(
                [*rt.argv, "create", "-b", rt.bundle, "--pid-file", pid_file, cid], label="create"
            ),
            Step([*rt.argv, "start", cid], label="start"),
        ]
    )
    if sample.error is not None:
        rt.problem = sample.error
        rt.force_delete(cid)
        return None
    try:
        with open(pid_file) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError) as exc:
        rt.problem = f"create: no usable --pid-file ({exc})"
        rt.force_delete(cid)
        return None
    return Running(cid, pid)


def exec_row(rt: Runtime, running: Running | None) -> Row:
    command = f"{' '.join(rt.argv)} exec ID /bin/true"
    if running is None:
        return Row(rt.name, command, lambda: rt.measure([]), failed=rt.problem or "not started")
    steps = [Step([*rt.argv, "exec", running.cid, "/bin/true"], label="exec")]
    return Row(rt.name, command, lambda: rt.measure(steps))


def nsenter_row(local: Local, started: dict[str, Running]) -> tuple[Row, str | None]:
    """The floor `nsenter -t PID -a /bin/true`; also whose container it enters."""
    name = "floor: nsenter -t PID -a /bin/true"
    nsenter = shutil.which("nsenter")
    target = next((t for t in FLOOR_TARGETS if t in started), None)
    if nsenter is None or target is None:
        why = "nsenter: not found" if nsenter is None else "no container is running"
        return Row(name, "nsenter -t PID -a /bin/true", lambda: local.measure([]), failed=why), None
    argv = [nsenter, "-t", str(started[target].pid), "-a", "/bin/true"]
    row = floor_row(name, local, argv)
    row.command += f"  (PID: {target}'s container init)"
    return row, target


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    bundle.add_common_args(p, runs_help="timed rounds")
    args = p.parse_args(argv)
    bundle.check_common_args(p, args)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench: runtime_exec needs root (it creates containers and cgroups)", file=sys.stderr)
        return 2
    host.catch_signals()
    started_at = host.timestamp()
    leftovers: list[str] = []
    with contextlib.ExitStack() as stack:
        setup = bundle.prepare(
            stack,
            leftovers,
            bastion=args.bastion,
            bastion_base=args.bastion_base,
            timeout=args.timeout,
            process_args=CONTAINER_ARGS,
        )
        print("# runtime_exec: " + " ".join(["bench/runtime_exec.py", *(argv or sys.argv[1:])]))
        host.print_facts(setup.facts, args.runs, args.warmup)

        started: dict[str, Running] = {}
        for rt in setup.runtimes:
            running = start_container(rt, setup.work)
            if running is not None:
                started[rt.name] = running
        for name, running in started.items():
            print(f"  {name} container: {running.cid}, init pid {running.pid}")

        rows = [exec_row(rt, started.get(rt.name)) for rt in setup.runtimes]
        floor, target = nsenter_row(setup.local, started)
        rows += [floor, floor_row("floor: python3 -S -c pass", setup.local, PYTHON_FLOOR)]
        title = f"`exec ID /bin/true` into a running container ({' '.join(CONTAINER_ARGS)})"
        run_rounds("exec", rows, args.runs, args.warmup, args.gap_ms / 1000)
        result = report("exec", title, rows)
        if setup.hybrid:
            print(
                "\ncrun ran inside one private mount namespace (unified unmounted), its container "
                "too; nsenter entered " + (f"{target}'s container." if target else "no container.")
            )

        out = host.save_results(
            "runtime_exec",
            started_at,
            {
                "bench": "runtime_exec",
                "started": started_at,
                "argv": sys.argv,
                "runs": args.runs,
                "warmup": args.warmup,
                "machine": setup.facts,
                "container_args": CONTAINER_ARGS,
                "containers": {
                    name: {"id": r.cid, "init_pid": r.pid} for name, r in started.items()
                },
                "nsenter_target": target,
                "phases": {"exec": result},
            },
        )
        print(f"\nresults: {out}")
    if leftovers:
        print("bench: left behind: " + "; ".join(leftovers), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    host.run_main(main)
