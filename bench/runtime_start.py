"""How long a container start takes with bastion-runc, side by side with runc, crun and two floors.

    .venv/bin/python bench/runtime_start.py [--runs N] [--only run|cycle] [--bastion PATH]

Two benches, each N rounds after 3 warm-up rounds; in every round each tool runs once, in an order
rotated by one each round, so slow drifts of the machine hit every tool alike:
- `run`: `<runtime> --root DIR run -b BUNDLE ID` of /bin/true from the same busybox bundle, beside
  two floors: `unshare -p -f -m -u -i -n /bin/true` (the namespaces alone) and
  `/usr/bin/python3 -S -c pass` (a Python process, which bastion-runc is);
- `cycle`: `create`, `start`, `delete` of the same container, timed together (`delete --force`
  when the container is not stopped yet), beside 3 x `python3 -S -c pass`.
It prints medians, p90s and the ratios bastion-runc/runc and bastion-runc/crun, and writes
everything (raw samples too) to bench/results/runtime_start-<timestamp>.json.

crun refuses this host's hybrid cgroups, so it runs in a worker process inside one private mount
namespace with /sys/fs/cgroup/unified unmounted (bench/bundle.py); the worker times crun exactly as
the bench times the others. The per-call alternative,
`unshare -m sh -c 'umount /sys/fs/cgroup/unified && exec crun ...'`, is measured as a floor row so
its cost is known. Everything the bench makes (containers, cgroups, temp dirs) is removed at the
end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

# Run as a script (bench/ is sys.path[0]); the repository root makes `bench` importable.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import bundle, host
from bench.bundle import Runtime
from bench.timing import Row, Sample, Step, floor_row, report, run_rounds

PYTHON_FLOOR = ["/usr/bin/python3", "-S", "-c", "pass"]
#: The per-call crun wrapper; `sh` is $0, the command follows.
WRAP_SCRIPT = f'umount {host.UNIFIED} && exec "$@"'


def run_trial(rt: Runtime) -> Sample:
    return rt.trial(lambda cid: [Step([*rt.argv, "run", "-b", rt.bundle, cid], label="run")])


def cycle_trial(rt: Runtime) -> Sample:
    def steps(cid: str) -> list[Step]:
        delete = [*rt.argv, "delete", cid]
        return [
            Step([*rt.argv, "create", "-b", rt.bundle, cid], label="create"),
            Step([*rt.argv, "start", cid], label="start"),
            Step(delete, fallback=[*rt.argv, "delete", "--force", cid], label="delete"),
        ]

    return rt.trial(steps)


def runtime_row(rt: Runtime, phase: str) -> Row:
    verbs = "run -b BUNDLE ID" if phase == "run" else "create ; start ; delete [--force]"
    trial = run_trial if phase == "run" else cycle_trial
    row = Row(rt.name, f"{' '.join(rt.argv)} {verbs}", lambda: trial(rt))
    row.failed = rt.problem
    return row


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    bundle.add_common_args(p, runs_help="timed rounds per bench")
    p.add_argument("--only", choices=["run", "cycle"], help="one bench only")
    args = p.parse_args(argv)
    bundle.check_common_args(p, args)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print(
            "bench: runtime_start needs root (it creates containers and cgroups)", file=sys.stderr
        )
        return 2
    host.catch_signals()
    started = host.timestamp()
    phases = ["run", "cycle"] if args.only is None else [args.only]
    leftovers: list[str] = []
    with contextlib.ExitStack() as stack:
        setup = bundle.prepare(
            stack,
            leftovers,
            bastion=args.bastion,
            timeout=args.timeout,
            bastion_base=args.bastion_base,
        )
        unshare, local = setup.unshare, setup.local

        print("# runtime_start: " + " ".join(["bench/runtime_start.py", *(argv or sys.argv[1:])]))
        host.print_facts(setup.facts, args.runs, args.warmup)

        results: dict[str, object] = {}
        for phase in phases:
            rows = [runtime_row(rt, phase) for rt in setup.runtimes]
            if phase == "run":
                title = "`run` of /bin/true (whole runtime process, container included)"
                rows.append(
                    floor_row(
                        "floor: unshare -pfmuin /bin/true",
                        local,
                        [unshare or "unshare", "-p", "-f", "-m", "-u", "-i", "-n", "/bin/true"],
                    )
                )
                rows.append(floor_row("floor: python3 -S -c pass", local, PYTHON_FLOOR))
                if setup.hybrid and unshare:
                    rows.append(
                        floor_row(
                            "floor: per-call crun wrapper",
                            local,
                            [
                                unshare,
                                "-m",
                                "--propagation",
                                "private",
                                "/bin/sh",
                                "-c",
                                WRAP_SCRIPT,
                                "sh",
                                "/bin/true",
                            ],
                        )
                    )
            else:
                title = "create -> start -> delete of /bin/true, timed together"
                rows.append(floor_row("floor: 3 x python3 -S -c pass", local, *[PYTHON_FLOOR] * 3))
            run_rounds(phase, rows, args.runs, args.warmup, args.gap_ms / 1000)
            results[phase] = report(phase, title, rows)
        if setup.hybrid:
            print(
                "\ncrun ran inside one private mount namespace (unified unmounted); the per-call "
                "wrapper row is what `unshare -m sh -c 'umount ...; exec crun'` adds to a call."
            )

        out = host.save_results(
            "runtime_start",
            started,
            {
                "bench": "runtime_start",
                "started": started,
                "argv": sys.argv,
                "runs": args.runs,
                "warmup": args.warmup,
                "machine": setup.facts,
                "phases": results,
            },
        )
        print(f"\nresults: {out}")
    if leftovers:
        print("bench: left behind: " + "; ".join(leftovers), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    host.run_main(main)
