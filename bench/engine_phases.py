"""Where the time of one `bastion run --rm --network none IMAGE true` goes, phase by phase.

    .venv/bin/python bench/engine_phases.py [--runs N] [--warmup N]

The engine of bench/engine_run.py (a private root, the busybox test image from a loopback
registry; no podman), then N rounds of:
- the CPU time of one run, without strace, split in two: the CLI process (from its rusage,
  conmon's first process included since the CLI waits for it) and the monitor's side (conmon,
  which double-forks away from the CLI, with the runtime's create and the container it waits
  for: this bench is a child subreaper, so conmon ends up its child and its rusage is read);
- one run under `strace -f --seccomp-bpf -ttt` tracing only the syscalls that mark the phases
  (execve, mkdir, rename, move_mount, umount2, rmdir, exit_group): each of those stops the
  process, so the absolute figures are a little high; the split between them is what this is
  for.
Medians are printed; nothing is saved. Run it as root, with strace installed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "helpers")
)

from bench.engine_run import child_pids, engines
from bench.timing import ENV

TRACED = "execve,mkdir,rename,renameat,renameat2,move_mount,umount2,rmdir,exit_group"
#: (phase, from mark, to mark); the marks are found in this order in a trace (`marks`).
PHASES = (
    ("CLI: interpreter, imports, parser", "exec", "engine"),
    ("CLI: metadata, image, spec, config.json", "engine", "config.json"),
    ("CLI: record, overlay mount", "config.json", "overlay"),
    ("CLI: to conmon's exec", "overlay", "conmon"),
    ("conmon: to the runtime's exec", "conmon", "runtime"),
    ("runtime create: interpreter, imports, config.json", "runtime", "runtime state"),
    ("runtime create: state, cgroups, init (to its exit)", "runtime state", "created"),
    ("CLI: start", "created", "started"),
    ("container: to its exec", "started", "exec true"),
    ("container: true runs", "exec true", "true exits"),
    ("conmon: the exit file", "true exits", "exit file"),
    ("CLI: exit seen, runtime delete, unmount", "exit file", "unmounted"),
    ("CLI: container directory, record", "unmounted", "removed"),
    ("CLI: exit", "removed", "end"),
)


def marks(trace: str) -> dict[str, float]:
    """The timestamps (s) of the phase marks in one `strace -f -ttt` output of a run."""
    found: dict[str, float] = {}
    cli = runtime = true_pid = None
    for line in trace.splitlines():
        parts = line.split(None, 2)
        if len(parts) < 3 or not parts[0].isdigit():
            continue
        pid, ts, call = parts[0], float(parts[1]), parts[2]

        def mark(name: str, ts: float = ts) -> None:
            found.setdefault(name, ts)

        if cli is None and call.startswith("execve("):
            cli = pid
            mark("exec")
        elif pid == cli and call.startswith("mkdir("):
            mark("engine")  # Engine() makes sure of <root>/containers: imports and parser done
        elif pid == cli and call.startswith("rename") and 'config.json"' in call:
            mark("config.json")
        elif pid == cli and call.startswith("move_mount("):
            mark("overlay")
        elif call.startswith("execve(") and "conmon" in call.split(",")[0]:
            mark("conmon")
        elif call.startswith("execve(") and '"create"' in call:
            runtime = pid
            mark("runtime")
        elif pid == runtime and call.startswith("mkdir("):
            mark("runtime state")  # its state directory: config.json read and checked
        elif pid == runtime and call.startswith("exit_group("):
            mark("created")
        elif pid == cli and call.startswith("rename") and "created" in found:
            mark("started")  # the runtime's start records "running" (state.json)
        elif call.startswith(('execve("/bin/true"', 'execve("/usr/bin/true"')):
            true_pid = pid
            mark("exec true")
        elif pid == true_pid and call.startswith("exit_group("):
            mark("true exits")
        elif pid != cli and call.startswith("rename") and "/exit/" in call:
            mark("exit file")
        elif pid == cli and call.startswith("umount2("):
            found["unmounted"] = ts  # the last one
        elif pid == cli and call.startswith("rmdir("):
            found["removed"] = ts  # the container's directory goes last
        elif pid == cli and call.startswith("exit_group("):
            mark("end")
    return found


def cpu_split_ms(argv: list[str]) -> tuple[float, float]:
    """The CPU time (ms) of the CLI process (and of the conmon process it waits for), and of
    every process it left behind, once they have ended (conmon, the runtime's create, the
    container): the caller is a child subreaper (`become_subreaper`), so they are its
    children to wait for."""

    def children() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    keep = set(child_pids())  # the registry
    before = children()
    subprocess.run(argv, env=ENV, check=True, capture_output=True)
    after_cli = children()
    reap_left(keep)
    return (after_cli - before) * 1e3, (children() - after_cli) * 1e3


def reap_left(keep: set[int], timeout_s: float = 30) -> None:
    """Wait for every child but `keep` (conmon, reparented to us, waits for the runtime and
    the container first)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        left = [pid for pid in child_pids() if pid not in keep]
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def become_subreaper() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, ctypes.c_ulong(1), 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        raise OSError(ctypes.get_errno(), "PR_SET_CHILD_SUBREAPER")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    strace = shutil.which("strace")
    if os.geteuid() != 0 or strace is None:
        print("bench: engine_phases needs root and strace", file=sys.stderr)
        return 2
    phases: dict[str, list[float]] = {}
    cpu: list[float] = []
    monitor_cpu: list[float] = []
    become_subreaper()
    with engines(with_podman=False) as (bastion, _, image), tempfile.TemporaryDirectory() as tmp:
        run = [*bastion, "run", "--rm", "--network", "none", image, "true"]
        registry = set(child_pids())
        out = os.path.join(tmp, "trace")
        for r in range(args.warmup + args.runs):
            keep = r >= args.warmup
            used = cpu_split_ms(run)
            argv = [strace, "-f", "--seccomp-bpf", "-ttt", "-o", out, "-e", TRACED, *run]
            subprocess.run(argv, env=ENV, check=True, capture_output=True)
            reap_left(registry)  # its conmon, reparented to us: not the next round's
            with open(out) as f:
                found = marks(f.read())
            if not keep:
                continue
            cpu.append(used[0])
            monitor_cpu.append(used[1])
            for phase, start, end in PHASES:
                if start in found and end in found:
                    phases.setdefault(phase, []).append((found[end] - found[start]) * 1e3)
            if "exec" in found and "end" in found:
                phases.setdefault("total (under strace)", []).append(
                    (found["end"] - found["exec"]) * 1e3
                )
    print(f"## bastion run --rm --network none IMAGE true: {args.runs} runs, medians")
    print(f"{'CPU (no strace): the CLI process':58} {statistics.median(cpu):8.2f} ms")
    print(f"{'CPU (no strace): conmon, the runtime, the container':58} ", end="")
    print(f"{statistics.median(monitor_cpu):7.2f} ms")
    for phase, _, _ in (*PHASES, ("total (under strace)", "", "")):
        values = phases.get(phase)
        shown = f"{statistics.median(values):8.2f} ms" if values else "     n/a"
        print(f"{phase:58} {shown}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
