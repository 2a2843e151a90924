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
namespace with /sys/fs/cgroup/unified unmounted (this script again, with --crun-worker); the worker
times crun exactly as the bench times the others. The per-call alternative,
`unshare -m sh -c 'umount /sys/fs/cgroup/unified && exec crun ...'`, is measured as a floor row so
its cost is known. Everything the bench makes (containers, cgroups, temp dirs) is removed at the
end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

# Run as a script (bench/ is sys.path[0]); the repository root makes `bench` importable.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import host
from bench.timing import (
    Executor,
    Local,
    Sample,
    Spawner,
    Step,
    Worker,
    paired_ratio,
    serve,
    summarize,
)

PYTHON_FLOOR = ["/usr/bin/python3", "-S", "-c", "pass"]
#: A tool is given up after this many failures in a row (a broken runtime costs seconds).
GIVE_UP_AFTER = 3
#: The per-call crun wrapper; `sh` is $0, the command follows.
WRAP_SCRIPT = f'umount {host.UNIFIED} && exec "$@"'


@dataclass
class Row:
    """One line of a bench's table: a tool, how to time it once, and what it gave."""

    name: str
    command: str
    trial: Callable[[], Sample]
    failed: str | None = None
    streak: int = 0
    samples_ns: list[int | None] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    forced: int = 0

    def record(self, sample: Sample, *, keep: bool) -> None:
        if sample.error is not None:
            self.errors.append(sample.error)
            self.streak += 1
            if self.streak >= GIVE_UP_AFTER:
                self.failed = sample.error
        else:
            self.streak = 0
        if keep:
            self.samples_ns.append(sample.ns)
            self.forced += sample.forced


class Runtime:
    """An OCI runtime: its own state dir and copy of the bundle, a fresh container per trial."""

    def __init__(
        self, name: str, binary: str | None, work: str, *, tag: str, timeout: float
    ) -> None:
        self.name = name
        self.timeout = timeout
        self.binary = binary
        self.tag = tag
        self.state = os.path.join(work, "state", name)
        self.bundle = os.path.join(work, f"bundle-{name}")
        self.argv = [binary or name, "--root", self.state]
        self.cleanup_prefix: list[str] = []  # a wrapper for the untimed deletes (crun)
        self.executor: Executor | None = None
        self.problem = None if binary else f"{name}: not found"
        self._count = 0

    def setup(self, rootfs: str, spec: dict[str, object], executor: Executor) -> None:
        os.makedirs(self.state, exist_ok=True)
        os.makedirs(self.bundle)
        subprocess.run(
            [
                "cp",
                "-a",
                "--reflink=auto",
                "--no-target-directory",
                rootfs,
                f"{self.bundle}/rootfs",
            ],
            check=True,
        )
        self.spec = spec
        self.executor = executor

    def _new_container(self) -> str:
        """A fresh id and cgroup (`/bastion-bench/<tool>-<pid>-<n>`), written into config.json."""
        self._count += 1
        name = f"{self.name}-{self.tag}-{self._count}"
        host.write_config(self.bundle, self.spec, f"/{host.CGROUP_PARENT}/{name}")
        return f"bb-{name}"

    def _trial(self, steps: Callable[[str], list[Step]]) -> Sample:
        assert self.executor is not None
        cid = self._new_container()
        sample = self.executor.measure(steps(cid))
        if sample.error is not None:
            self.force_delete(cid)
        return sample

    def run_trial(self) -> Sample:
        return self._trial(
            lambda cid: [Step([*self.argv, "run", "-b", self.bundle, cid], label="run")]
        )

    def cycle_trial(self) -> Sample:
        def steps(cid: str) -> list[Step]:
            delete = [*self.argv, "delete", cid]
            return [
                Step([*self.argv, "create", "-b", self.bundle, cid], label="create"),
                Step([*self.argv, "start", cid], label="start"),
                Step(delete, fallback=[*self.argv, "delete", "--force", cid], label="delete"),
            ]

        return self._trial(steps)

    def force_delete(self, cid: str) -> None:
        host.run_briefly([*self.cleanup_prefix, *self.argv, "delete", "--force", cid], self.timeout)

    def delete_all(self) -> list[str]:
        """Delete every container left in our state dir; the ids that would not go."""
        if self.binary is None or not os.path.isdir(self.state):
            return []
        for cid in os.listdir(self.state):
            self.force_delete(cid)
        return [f"{self.name} container {cid}" for cid in os.listdir(self.state)]


def floor_row(name: str, local: Executor, *commands: list[str]) -> Row:
    steps = [Step(argv) for argv in commands]
    shown = " ; ".join(" ".join(argv) for argv in commands)
    return Row(name, shown, lambda: local.measure(steps))


def runtime_row(rt: Runtime, phase: str) -> Row:
    verbs = "run -b BUNDLE ID" if phase == "run" else "create ; start ; delete [--force]"
    row = Row(
        rt.name, f"{' '.join(rt.argv)} {verbs}", rt.run_trial if phase == "run" else rt.cycle_trial
    )
    row.failed = rt.problem
    return row


def run_rounds(phase: str, rows: list[Row], rounds: int, warmup: int) -> None:
    """Each round runs every row once, starting one row later than the round before."""
    total = warmup + rounds
    tty = sys.stderr.isatty()
    for r in range(total):
        shift = r % len(rows)
        for row in rows[shift:] + rows[:shift]:
            if row.failed is not None:
                if r >= warmup:
                    row.samples_ns.append(None)
                continue
            row.record(row.trial(), keep=r >= warmup)
        if tty:
            state = "warm-up" if r < warmup else "timed"
            print(f"\r  {phase}: round {r + 1}/{total} ({state})  ", end="", file=sys.stderr)
    print(f"\r  {phase}: {total} rounds done ({warmup} warm-up)", file=sys.stderr)


def report(phase: str, title: str, rows: list[Row]) -> dict[str, object]:
    """Print the table and ratios of one bench; return them for the JSON file."""
    print(f"\n## {phase}: {title}")
    print(f"{'tool':<34} {'median':>8} {'p90':>8} {'min':>8} {'mean':>8}  ok")
    by_name: dict[str, Row] = {}
    result_rows: dict[str, object] = {}
    for row in rows:
        ok = [ns for ns in row.samples_ns if ns is not None]
        entry: dict[str, object] = {
            "command": row.command,
            "samples_ns": row.samples_ns,
            "errors": sorted(set(row.errors)),
            "forced_deletes": row.forced,
        }
        if ok:
            s = summarize(ok)
            by_name[row.name] = row
            entry["summary_ms"] = asdict(s)
            extra = f" ({row.forced} needed delete --force)" if row.forced else ""
            extra += (
                f"; failed {len(row.samples_ns) - len(ok)}: {row.errors[-1]}"
                if len(ok) < len(row.samples_ns)
                else ""
            )
            print(
                f"{row.name:<34} {s.median_ms:>5.2f} ms {s.p90_ms:>5.2f} ms {s.min_ms:>5.2f} ms "
                f"{s.mean_ms:>5.2f} ms  {len(ok)}/{len(row.samples_ns)}{extra}"
            )
        else:
            why = row.failed or (row.errors[-1] if row.errors else "no samples")
            entry["failed"] = why
            print(f"{row.name:<34} failed: {why}")
        result_rows[row.name] = entry
    ratios: dict[str, object] = {}
    for a, b in (("bastion-runc", "runc"), ("bastion-runc", "crun"), ("runc", "crun")):
        if a in by_name and b in by_name:
            ra, rb = by_name[a], by_name[b]
            med = summarize([n for n in ra.samples_ns if n])
            ref = summarize([n for n in rb.samples_ns if n])
            paired = paired_ratio(ra.samples_ns, rb.samples_ns)
            ratio = med.median_ms / ref.median_ms
            ratios[f"{a}/{b}"] = {
                "of_medians": round(ratio, 3),
                "paired_median": paired and round(paired, 3),
            }
            paired_text = f" (median of per-round ratios {paired:.2f}x)" if paired else ""
            print(f"  ratio {a}/{b}: {ratio:.2f}x{paired_text}")
        elif a == "bastion-runc":
            print(f"  ratio {a}/{b}: n/a ({a if a not in by_name else b} has no samples)")
    return {"title": title, "rows": result_rows, "ratios": ratios}


def start_crun_worker(
    crun: Runtime, work: str, unshare: str | None, timeout: float
) -> Worker | None:
    """The crun worker in its own mount namespace (see the module docstring)."""
    if unshare is None:
        crun.problem = "crun: needs unshare (util-linux) for its private mount namespace"
        return None
    argv = [
        unshare,
        "-m",
        "--propagation",
        "private",
        sys.executable,
        os.path.abspath(__file__),
        "--crun-worker",
        os.readlink("/proc/self/ns/mnt"),
        os.path.join(work, "stderr-crun"),
        "--timeout",
        str(timeout),
    ]
    mounted = os.path.ismount(host.UNIFIED)
    worker = Worker(argv)
    if worker.error is not None:
        crun.problem = f"crun worker: {worker.error}"
    if mounted and not os.path.ismount(host.UNIFIED):  # the worker's umount must stay private
        raise SystemExit(f"bench: the worker unmounted {host.UNIFIED} on the host: stopping")
    crun.cleanup_prefix = [
        unshare,
        "-m",
        "--propagation",
        "private",
        "/bin/sh",
        "-c",
        f'umount {host.UNIFIED} 2>/dev/null; exec "$@"',
        "sh",
    ]
    return worker


def crun_worker(parent_mntns: str, stderr_path: str, timeout: float) -> int:
    """--crun-worker: in a private mount namespace, drop the cgroup2 mount, then time on request."""
    try:
        if os.readlink("/proc/self/ns/mnt") == parent_mntns:
            raise RuntimeError("not in a private mount namespace: refusing to unmount anything")
        if os.path.ismount(host.UNIFIED):
            subprocess.run(["umount", host.UNIFIED], check=True, capture_output=True, text=True)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr.strip() if isinstance(exc, subprocess.CalledProcessError) else str(exc)
        print(json.dumps({"ready": False, "error": detail}), flush=True)
        return 1
    spawner = Spawner(stderr_path, timeout)
    print(json.dumps({"ready": True}), flush=True)
    serve(spawner)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--runs", type=int, default=30, help="timed rounds per bench (default 30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default 3)")
    p.add_argument("--only", choices=["run", "cycle"], help="one bench only")
    p.add_argument(
        "--bastion",
        default=os.path.join(host.REPO, ".venv", "bin", "bastion-runc"),
        help="the bastion-runc to time (default: .venv/bin/bastion-runc)",
    )
    p.add_argument("--timeout", type=float, default=10.0, help="seconds before a command is killed")
    p.add_argument("--crun-worker", nargs=2, metavar=("MNTNS", "STDERR"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        p.error("--runs must be >= 1 and --warmup >= 0")
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _collect(into: list[str], cleanup: Callable[[], list[str]]) -> None:
    """Run one cleanup step; keep what it could not remove, and let the other steps run."""
    try:
        into.extend(cleanup())
    except Exception as exc:
        into.append(f"{cleanup}: {exc}")


def _ignore_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)


def _executable(path: str | None) -> str | None:
    return path if path and os.path.isfile(path) and os.access(path, os.X_OK) else None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.crun_worker:
        mntns, stderr_path = args.crun_worker
        return crun_worker(mntns, stderr_path, args.timeout)
    if os.geteuid() != 0:
        print(
            "bench: runtime_start needs root (it creates containers and cgroups)", file=sys.stderr
        )
        return 2
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with it ignored
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    started = time.strftime("%Y%m%d-%H%M%S")
    tools = {
        "bastion-runc": _executable(args.bastion),
        "runc": shutil.which("runc"),
        "crun": shutil.which("crun"),
    }
    unshare = shutil.which("unshare")
    tag = str(os.getpid())
    phases = ["run", "cycle"] if args.only is None else [args.only]
    with contextlib.ExitStack() as stack:
        work = tempfile.mkdtemp(prefix="bastion-bench-")
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        leftovers: list[str] = []
        stack.callback(_collect, leftovers, lambda: host.remove_cgroups(tag))
        runtimes = [
            Runtime(name, path, work, tag=tag, timeout=args.timeout) for name, path in tools.items()
        ]
        for rt in runtimes:
            stack.callback(_collect, leftovers, rt.delete_all)
        # Cleanup runs first thing on the way out, and a second Ctrl-C must not cut it short.
        stack.callback(_ignore_signals)

        facts = host.machine_facts({**tools, "unshare": unshare})
        rootfs = os.path.join(work, "rootfs")
        facts["rootfs"] = host.make_rootfs(rootfs)
        spec = host.base_spec(tools["runc"])
        local = Local(Spawner(os.path.join(work, "stderr"), args.timeout))
        for rt in runtimes:
            executor: Executor = local
            if rt.name == "crun" and rt.binary is not None:
                worker = start_crun_worker(rt, work, unshare, args.timeout)
                if worker is not None:
                    stack.callback(worker.close)  # before the deletes (LIFO): crun is idle then
                    executor = worker
            rt.setup(rootfs, spec, executor)
        shutil.rmtree(rootfs)

        print("# runtime_start: " + " ".join(["bench/runtime_start.py", *(argv or sys.argv[1:])]))
        for key in (
            "kernel",
            "cpu",
            "cores",
            "cores_usable",
            "memory_mib",
            "loadavg_at_start",
            "python_bench",
            "python_floor",
            "cgroups",
            "rootfs",
        ):
            print(f"  {key}: {facts[key]}")
        versions = facts["tools"]
        assert isinstance(versions, dict)
        for name, version in versions.items():
            print(f"  {name}: {version}")
        print(f"  bastion: {facts['bastion']}")
        print(f"  {args.runs} timed rounds after {args.warmup} warm-up; order rotated each round")

        results: dict[str, object] = {}
        hybrid = "hybrid" in str(facts["cgroups"])
        for phase in phases:
            rows = [runtime_row(rt, phase) for rt in runtimes]
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
                if hybrid and unshare:
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
            run_rounds(phase, rows, args.runs, args.warmup)
            results[phase] = report(phase, title, rows)
        if hybrid:
            print(
                "\ncrun ran inside one private mount namespace (unified unmounted); the per-call "
                "wrapper row is what `unshare -m sh -c 'umount ...; exec crun'` adds to a call."
            )

        os.makedirs(os.path.join(host.REPO, "bench", "results"), exist_ok=True)
        out = os.path.join(host.REPO, "bench", "results", f"runtime_start-{started}.json")
        document = {
            "bench": "runtime_start",
            "started": started,
            "argv": sys.argv,
            "runs": args.runs,
            "warmup": args.warmup,
            "machine": facts,
            "phases": results,
        }
        with open(out, "w") as f:
            json.dump(document, f, indent=1)
        print(f"\nresults: {os.path.relpath(out, host.REPO)}")
    if leftovers:
        print("bench: left behind: " + "; ".join(leftovers), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\nbench: interrupted; cleaned up", file=sys.stderr)
        sys.exit(130)
