"""What the sensor benches share: the C workload and the empty BPF pair built at run time,
CPU pinning, the sensor worker process, the compiled extension switched for this process, and
medians.

Nothing is committed as a binary: `build()` compiles `sensor_workload.c` (gcc or clang) and
`sensor_floor.bpf.c` (clang -target bpf) into a temp dir that the caller removes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
WORKER = os.path.join(BENCH, "sensor_worker.py")
PYTHON = os.path.join(REPO, ".venv", "bin", "python")
#: The workload runs on this CPU, the sensor worker on the other (the host has 2).
WORKLOAD_CPU = 0
SENSOR_CPU = 1


class BenchError(Exception):
    """A tool is missing or a build failed; the message says which."""


@dataclass(frozen=True, slots=True)
class Built:
    workload: str
    floor_object: str
    target: str  # a small file the open/close workloads open


@contextlib.contextmanager
def build() -> Iterator[Built]:
    """Compile the workload and the floor programs into a temp dir (removed on exit)."""
    tmp = tempfile.mkdtemp(prefix="bst-test-bench-")
    try:
        cc = shutil.which("gcc") or shutil.which("clang")
        clang = shutil.which("clang")
        if cc is None or clang is None:
            raise BenchError("the sensor benches need gcc or clang, and clang for BPF")
        workload = os.path.join(tmp, "sensor_workload")
        _run([cc, "-O2", "-o", workload, os.path.join(BENCH, "sensor_workload.c")])
        floor = os.path.join(tmp, "sensor_floor.bpf.o")
        arch_include = f"/usr/include/{os.uname().machine}-linux-gnu"
        source = os.path.join(BENCH, "sensor_floor.bpf.c")
        _run([clang, "-O2", "-g", "-target", "bpf", "-I", arch_include, "-c", source, "-o", floor])
        target = os.path.join(tmp, "target")
        with open(target, "w") as f:
            f.write("bench\n")
        yield Built(workload=workload, floor_object=floor, target=target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)}:\n{done.stderr}")


def pinned(argv: list[str], cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv]


def run_workload(argv: list[str], cpu: int = WORKLOAD_CPU) -> list[int]:
    """Run one pinned workload; the integers it prints (its own loop time first)."""
    done = subprocess.run(pinned(argv, cpu), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    return [int(x) for x in done.stdout.split()]


@contextlib.contextmanager
def accel_switched(compiled: bool) -> Iterator[None]:
    """This process's rings, decoders and states made in the block use the compiled extension
    (probe/accel.c) or not, as the worker's environment decides it (probe/accel.py reads the
    variable when each is made); the variable is put back after."""
    sys.path.insert(0, os.path.join(REPO, "src"))
    from bastion.sensor.probe.accel import ACCEL_ENV

    before = os.environ.get(ACCEL_ENV)
    os.environ[ACCEL_ENV] = "1" if compiled else "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ[ACCEL_ENV]
        else:
            os.environ[ACCEL_ENV] = before


@contextlib.contextmanager
def floor_programs(obj: str) -> Iterator[None]:
    """The empty sys_exit program, attached for the duration of the block."""
    sys.path.insert(0, os.path.join(REPO, "src"))
    from bastion._sys import bpf

    handle = bpf.object_open(obj)
    links: list[int] = []
    try:
        bpf.object_load(handle, obj)
        name = "bst_bench_exit"
        links.append(bpf.program_attach(bpf.find_program(handle, name), name))
        yield
    finally:
        for link in links:
            bpf.link_destroy(link)
        bpf.object_close(handle)


class SensorWorker:
    """`sensor_worker.py` on the sensor CPU: probe + decode + state until `stop()`.

    Started and stopped by pid (we never signal a process we did not start); `stop()` returns
    the worker's final counters (its JSON line).
    """

    def __init__(
        self, *extra: str, cpu: int = SENSOR_CPU, env: dict[str, str] | None = None
    ) -> None:
        """`env`: variables set for the worker on top of ours (``BASTION_SENSOR_ACCEL=0``)."""
        argv = pinned([PYTHON, WORKER, *extra], cpu)
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            err = self._finish()
            raise BenchError(f"the sensor worker did not start: {line.strip()} {err}")

    def _finish(self) -> str:
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err.strip()

    def stop(self) -> dict[str, float]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        assert self.proc.stdout is not None
        out, err = self.proc.communicate(timeout=60)
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        if self.proc.returncode != 0 or not lines:
            raise BenchError(f"the sensor worker failed ({self.proc.returncode}): {err.strip()}")
        result: dict[str, float] = json.loads(lines[-1])
        return result

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def loadavg() -> str:
    """The 1/5/15-minute load averages, printed with every figure (the machine is shared)."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def require_root_and_cpus() -> None:
    if os.geteuid() != 0:
        raise BenchError("run as root: the benches load BPF programs")
    cpus = os.sched_getaffinity(0)
    if not {WORKLOAD_CPU, SENSOR_CPU} <= cpus:
        raise BenchError(f"the benches need CPUs {WORKLOAD_CPU} and {SENSOR_CPU}; have {cpus}")


@contextlib.contextmanager
def bpf_stats() -> Iterator[None]:
    """kernel.bpf_stats_enabled on for the block (it adds two clock reads to every program
    run, so no timed round runs under it), restored after."""
    path = "/proc/sys/kernel/bpf_stats_enabled"
    with open(path) as f:
        before = f.read().strip()
    with open(path, "w") as f:
        f.write("1")
    try:
        yield
    finally:
        with open(path, "w") as f:
            f.write(before)


def _programs(name: str) -> list[dict[str, int]]:
    out = subprocess.run(
        ["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True
    ).stdout
    return [p for p in json.loads(out or "[]") if p.get("name") == name]


def program_ids(name: str) -> set[int]:
    """The ids of the loaded programs called `name`."""
    return {p["id"] for p in _programs(name)}


def program_runs(name: str, ids: set[int] | None = None) -> tuple[int, int]:
    """(run_time_ns, run_cnt) summed over the loaded programs called `name` (bpftool), only
    those of `ids` when given: other sessions on the machine may run a probe of the same name,
    whose runs are not ours to count."""
    runs = [p for p in _programs(name) if ids is None or p["id"] in ids]
    return sum(p.get("run_time_ns", 0) for p in runs), sum(p.get("run_cnt", 0) for p in runs)


def ns_per_run(name: str, argv: list[str], ids: set[int] | None = None) -> float:
    """The kernel's own account of what program `name` (of `ids`) cost per run while `argv`
    ran."""
    t0, n0 = program_runs(name, ids)
    run_workload(argv)
    t1, n1 = program_runs(name, ids)
    return (t1 - t0) / (n1 - n0) if n1 > n0 else float("nan")
