"""The runtimes a bench times, each with its own bundle and state dir, and the crun worker.

`prepare()` does what every runtime bench does before its first round, and registers the clean-up
on the caller's ExitStack, in order: the temp dir, the bench's cgroups, then each runtime's
containers (`delete --force`), then the crun worker's exit. A Ctrl-C or SIGTERM after that is
ignored so that the clean-up runs to the end. Nothing here is timed.

crun refuses this host's hybrid cgroups (v1 plus cgroup2 at /sys/fs/cgroup/unified). It therefore
runs in a worker process: this file run as a script, under `unshare -m --propagation private`.
The worker unmounts `unified` in its own mount namespace only, then times steps on request with
`timing.serve()`, so crun is timed by the same code as every other tool.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

if __name__ == "__main__":  # the crun worker: bench/ is sys.path[0]; make `bench` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import host
from bench.timing import Executor, Local, Sample, Spawner, Step, Worker, serve


class Runtime:
    """An OCI runtime: its own state dir and copy of the bundle; `new_container()` per container."""

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
        self.spec: dict[str, object] = {}
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

    def measure(self, steps: list[Step]) -> Sample:
        """Time `steps` where this runtime runs (here, or in the crun worker)."""
        assert self.executor is not None
        return self.executor.measure(steps)

    def new_container(self) -> str:
        """A fresh id and cgroup (`/bastion-bench/<tool>-<pid>-<n>`), written into config.json."""
        self._count += 1
        name = f"{self.name}-{self.tag}-{self._count}"
        host.write_config(self.bundle, self.spec, f"/{host.CGROUP_PARENT}/{name}")
        return f"bb-{name}"

    def trial(self, steps: Callable[[str], list[Step]]) -> Sample:
        """Time `steps(id)` on a fresh container; `delete --force` it if a step failed."""
        cid = self.new_container()
        sample = self.measure(steps(cid))
        if sample.error is not None:
            self.force_delete(cid)
        return sample

    def force_delete(self, cid: str) -> None:
        host.run_briefly([*self.cleanup_prefix, *self.argv, "delete", "--force", cid], self.timeout)

    def delete_all(self) -> list[str]:
        """Delete every container left in our state dir; the ids that would not go."""
        if self.binary is None or not os.path.isdir(self.state):
            return []

        def containers() -> list[str]:  # dot entries are a runtime's own (caches, kept records)
            return [n for n in os.listdir(self.state) if not n.startswith(".")]

        for cid in containers():
            self.force_delete(cid)
        return [f"{self.name} container {cid}" for cid in containers()]


@dataclass
class Prepared:
    """What `prepare()` set up: runtimes ready to time, the local executor, machine facts."""

    work: str
    unshare: str | None
    runtimes: list[Runtime]
    local: Local
    facts: dict[str, object]

    @property
    def hybrid(self) -> bool:
        return "hybrid" in str(self.facts["cgroups"])


def add_common_args(p: argparse.ArgumentParser, *, runs_help: str) -> None:
    """The flags every runtime bench takes (so `make bench BENCH_ARGS=...` reaches them all)."""
    p.add_argument("--runs", type=int, default=30, help=f"{runs_help} (default 30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default 3)")
    p.add_argument(
        "--bastion",
        default=os.path.join(host.REPO, ".venv", "bin", "bastion-runc"),
        help="the bastion-runc to time (default: .venv/bin/bastion-runc)",
    )
    p.add_argument(
        "--bastion-base",
        metavar="PATH",
        help="a second bastion-runc (e.g. main's launcher), timed in the same rounds as "
        "'bastion-base', for before/after ratios from one run",
    )
    p.add_argument(
        "--gap-ms",
        type=float,
        default=0.0,
        help="sleep this long (untimed) between two trials, so no tool rides another's RCU "
        "grace period (default 0)",
    )
    p.add_argument("--timeout", type=float, default=10.0, help="seconds before a command is killed")


def check_common_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.runs < 1 or args.warmup < 0 or args.gap_ms < 0:
        p.error("--runs must be >= 1, --warmup and --gap-ms >= 0")


def prepare(
    stack: contextlib.ExitStack[bool | None],
    leftovers: list[str],
    *,
    bastion: str,
    timeout: float,
    process_args: list[str] | None = None,
    bastion_base: str | None = None,
) -> Prepared:
    """Bundles (busybox rootfs, `process_args` as the process), state dirs, the crun worker.

    Every clean-up is registered on `stack` before the thing it cleans exists; what a clean-up
    could not remove goes to `leftovers`.
    """
    tools = {
        "bastion-runc": host.executable(bastion),
        "runc": shutil.which("runc"),
        "crun": shutil.which("crun"),
    }
    if bastion_base:
        tools["bastion-base"] = host.executable(bastion_base)
    unshare = shutil.which("unshare")
    tag = str(os.getpid())
    work = tempfile.mkdtemp(prefix="bastion-bench-")
    stack.callback(shutil.rmtree, work, ignore_errors=True)
    stack.callback(host.collect, leftovers, lambda: host.remove_cgroups(tag))
    runtimes = [Runtime(name, path, work, tag=tag, timeout=timeout) for name, path in tools.items()]
    for rt in runtimes:
        stack.callback(host.collect, leftovers, rt.delete_all)
    # Cleanup runs first thing on the way out, and a second Ctrl-C must not cut it short.
    stack.callback(host.ignore_signals)

    facts = host.machine_facts({**tools, "unshare": unshare})
    rootfs = os.path.join(work, "rootfs")
    facts["rootfs"] = host.make_rootfs(rootfs)
    spec = host.base_spec(tools["runc"], process_args)
    spawner = Spawner(os.path.join(work, "stderr"), timeout)
    stack.callback(spawner.close)
    local = Local(spawner)
    for rt in runtimes:
        executor: Executor = local
        if rt.name == "crun" and rt.binary is not None:
            worker = start_crun_worker(rt, work, unshare, timeout)
            if worker is not None:
                stack.callback(worker.close)  # before the deletes (LIFO): crun is idle then
                executor = worker
        rt.setup(rootfs, spec, executor)
    shutil.rmtree(rootfs)
    return Prepared(work, unshare, runtimes, local, facts)


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
        os.readlink("/proc/self/ns/mnt"),
        os.path.join(work, "stderr-crun"),
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
    """The worker: in a private mount namespace, drop the cgroup2 mount, then time on request."""
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


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: bundle.py PARENT_MNTNS STDERR_FILE TIMEOUT (the crun worker of a bench)")
    sys.exit(crun_worker(sys.argv[1], sys.argv[2], float(sys.argv[3])))
