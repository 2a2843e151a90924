"""Where the time of one bastion-runc `run` goes, phase by phase (docs/architecture.md).

    .venv/bin/python bench/runtime_phases.py [--runs N] [--bastion PATH] [--bastion-base PATH]

Three measurements, each N rounds, the launchers alternated round by round:
- the interpreter and the imports, without strace: `python3 -SE -c pass` with the launcher's
  interpreter, and the launcher's own set-up (collector off, sys.path, its module archive)
  followed by what `run` imports (bastion.cli.runc.main, its `run` command,
  bastion.runtime.create);
- the phases of one `run` of /bin/true under `strace -f --seccomp-bpf` tracing only a handful of
  syscalls that mark the phases (execve, mkdir, clone3, clone, pivot_root, exit_group): each of
  those stops the process, and each fork is followed, so the absolute figures are a little
  high; the split between phases is what this is for;
- `start` and `delete` of a created container as two timed commands, without strace (the
  container is created untimed; delete is `--force` only if /bin/true has not exited yet).
Medians are printed; nothing is saved. Run it as root, with strace installed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import bundle, host
from bench.bundle import Runtime
from bench.timing import Spawner, Step, measure

IMPORTS = "import bastion.cli.runc.main, bastion.cli.runc.commands.run, bastion.runtime.create"
ENTRY = "from bastion.cli.runc.main import run_and_exit"
TRACED = "execve,mkdir,clone3,clone,pivot_root,exit_group"
PHASES = (
    ("interpreter, imports, decode + validate config.json", "exec", "first mkdir"),
    ("state dir, cgroups (mkdir, limits), exec fifo", "first mkdir", "fork"),
    ("intermediate: join cgroups, init's imports, unshare, fork (0: none)", "fork", "init"),
    ("init: (without intermediate: join, imports) rootfs up to pivot_root", "init", "pivot_root"),
    ("init: pivot_root to exec (identity, hooks, READY, start)", "pivot_root", "exec true"),
    ("/bin/true runs", "exec true", "true exits"),
    ("wait + delete", "true exits", "end"),
)


def launcher_python(launcher: str) -> tuple[str, str]:
    """The interpreter of a lean launcher (its shebang) and its set-up code: the lines before
    its entry point (gc off, sys.path, the module archive where it has one), then what `run`
    imports."""
    with open(host.python_launcher(launcher)) as f:  # behind the compiled front, if any
        lines = f.read().splitlines()
    python = lines[0][2:].split()[0]
    preamble = lines[1 : lines.index(ENTRY)]
    return python, "\n".join([*preamble, IMPORTS])


def marks(trace: str) -> dict[str, float]:
    """The timestamps (s) of the phase marks in one `strace -f -ttt` output."""
    found: dict[str, float] = {}
    true_pid = None
    for line in trace.splitlines():
        parts = line.split(None, 2)
        if len(parts) < 3 or not parts[0].isdigit():
            continue
        pid, ts, call = parts[0], float(parts[1]), parts[2]
        if call.startswith("execve(") and "exec" not in found:
            found["exec"] = ts
        elif call.startswith("mkdir(") and "first mkdir" not in found:
            found["first mkdir"] = ts
        elif call.startswith(("clone3(", "clone(")) and "fork" not in found:
            found["fork"] = ts  # the intermediate: clone3 into the cgroup, or fork
            if "CLONE_NEW" in call:
                found["init"] = ts  # no intermediate: clone3 made the init in its namespaces
        elif call.startswith("clone(") and "init" not in found:
            found["init"] = ts
        elif call.startswith("pivot_root("):
            found["pivot_root"] = ts
        elif call.startswith('execve("/bin/true"'):
            found["exec true"], true_pid = ts, pid
        elif call.startswith("exit_group(") and pid == true_pid:
            found["true exits"] = ts
        elif call.startswith("exit_group("):
            found["end"] = ts
    return found


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    bundle.add_common_args(p, runs_help="rounds")
    args = p.parse_args()
    strace = shutil.which("strace")
    if os.geteuid() != 0 or strace is None:
        print("bench: runtime_phases needs root and strace", file=sys.stderr)
        return 2
    launchers = {"bastion-runc": os.path.abspath(args.bastion)}
    if args.bastion_base:
        launchers["bastion-base"] = os.path.abspath(args.bastion_base)
    work = tempfile.mkdtemp(prefix="bastion-bench-")
    tag = str(os.getpid())
    leftovers: list[str] = []
    samples: dict[str, dict[str, list[float]]] = {n: {} for n in launchers}
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        stack.callback(host.collect, leftovers, lambda: host.remove_cgroups(tag))
        rootfs = os.path.join(work, "rootfs")
        host.make_rootfs(rootfs)
        spec = host.base_spec(shutil.which("runc"))
        spawner = Spawner(os.path.join(work, "stderr"), args.timeout)
        stack.callback(spawner.close)
        runtimes = {}
        for name, launcher in launchers.items():
            rt = Runtime(name, launcher, work, tag=tag, timeout=args.timeout)
            stack.callback(host.collect, leftovers, rt.delete_all)
            rt.setup(rootfs, spec, None)  # type: ignore[arg-type]  # timed here, not by rt
            runtimes[name] = rt
        for r in range(args.warmup + args.runs):
            names = list(launchers)[r % len(launchers) :] + list(launchers)[: r % len(launchers)]
            for name in names:
                rt, into = runtimes[name], samples[name]
                keep = r >= args.warmup
                python, imports = launcher_python(launchers[name])
                for label, argv in (
                    ("interpreter", [python, "-SE", "-c", "pass"]),
                    ("interpreter + imports", [python, "-SE", "-c", imports]),
                ):
                    sample = measure(spawner, [Step(argv)])
                    if keep and sample.ns:
                        into.setdefault(label, []).append(sample.ns / 1e6)
                cid = rt.new_container()
                out = os.path.join(work, "trace")
                argv = [strace, "-f", "--seccomp-bpf", "-ttt", "-o", out, "-e", TRACED]
                measure(spawner, [Step([*argv, *rt.argv, "run", "-b", rt.bundle, cid])])
                with open(out) as f:
                    found = marks(f.read())
                for phase, start, end in PHASES:
                    if keep and start in found and end in found:
                        into.setdefault(phase, []).append((found[end] - found[start]) * 1e3)
                cid = rt.new_container()
                # Not timed; through the spawner: the init inherits no pipe (host.run_briefly's).
                measure(spawner, [Step([*rt.argv, "create", "-b", rt.bundle, cid])])
                started = measure(spawner, [Step([*rt.argv, "start", cid])])
                time.sleep(0.02)  # /bin/true exits: delete sees a stopped container
                deleted = measure(
                    spawner,
                    [Step([*rt.argv, "delete", cid], [*rt.argv, "delete", "--force", cid])],
                )
                if keep and started.ns and deleted.ns:
                    into.setdefault("start (own process)", []).append(started.ns / 1e6)
                    into.setdefault("delete (own process)", []).append(deleted.ns / 1e6)
    print(f"# runtime_phases: {args.runs} rounds after {args.warmup} warm-up; medians in ms")
    labels = list(next(iter(samples.values())))
    print(f"{'phase':<68}" + "".join(f"{n:>14}" for n in launchers))
    for label in labels:
        row = [statistics.median(samples[n].get(label) or [float("nan")]) for n in launchers]
        print(f"{label:<68}" + "".join(f"{v:>14.2f}" for v in row))
    if leftovers:
        print("bench: left behind: " + "; ".join(leftovers), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    host.run_main(main)
