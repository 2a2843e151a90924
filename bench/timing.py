"""How a bench times a command: posix_spawn, wait on a pidfd, waitpid; nothing else in the clock.

Every tool, floor or runtime, is timed by the same `measure()` around the same few syscalls
(`posix_spawn`, `pidfd_open`, `select`, `waitpid`: tens of microseconds), with the same fixed
environment and the same stdio (stdin and stdout on /dev/null, stderr into a file read only after
the clock stops). No pipes: a container started by `create` inherits the runtime's stdio and would
hold a pipe open long after the runtime exits.

`Worker` runs `measure()` in another process (the crun worker, inside its own mount namespace)
with a line of JSON each way; the exchange happens outside the clock.

`Row`, `run_rounds()` and `report()` are the shape every bench shares: one row per tool, each
row run once per round in an order rotated by one each round, then a table of medians, p90s and
the ratios bastion-runc/runc, bastion-runc/crun and runc/crun.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Protocol

#: A tool is given up after this many failures in a row (a broken runtime costs seconds).
GIVE_UP_AFTER = 3

#: The environment of every timed process: fixed, so no tool sees a different one.
ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}


@dataclass(frozen=True, slots=True)
class Step:
    """One command; `fallback` runs (inside the clock) when it exits non-zero."""

    argv: list[str]
    fallback: list[str] | None = None
    label: str = ""  # names the step in an error ("create: ..."); default: the program's name


@dataclass(frozen=True, slots=True)
class Sample:
    """One timed trial: `ns` when every step succeeded, else `error`; `forced` if a fallback ran."""

    ns: int | None
    error: str | None = None
    forced: bool = False
    cpu_ns: int = 0  # user + system time of the steps and the children they waited for
    #: minor page faults of the steps and the children they waited for (getrusage's
    #: ru_minflt): a count, so steadier than time, and on a machine where each fault is dear
    #: (bench/host.py `fault_cost_us`) a large part of it
    faults: int = 0
    #: (label, wall ns, CPU ns) of each labelled step (its fallback included), in order
    steps: tuple[tuple[str, int, int], ...] = ()


class StepTimeout(Exception):
    """A step ran longer than the spawner's timeout (it was killed)."""


class Spawner:
    """Starts a command with posix_spawn and waits for it on a pidfd, with a timeout."""

    def __init__(self, stderr_path: str, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self.last_cpu_ns = 0
        self.last_faults = 0
        self._null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC
        self._err = os.open(stderr_path, flags, 0o600)
        self._actions = [
            (os.POSIX_SPAWN_DUP2, self._null, 0),
            (os.POSIX_SPAWN_DUP2, self._null, 1),
            (os.POSIX_SPAWN_DUP2, self._err, 2),
        ]

    def close(self) -> None:
        os.close(self._null)
        os.close(self._err)

    def clear_stderr(self) -> None:
        os.ftruncate(self._err, 0)  # O_APPEND: the next write lands at offset 0

    def stderr_summary(self) -> str:
        """The first stderr line (the last one of a Python traceback), at most 200 characters."""
        os.lseek(self._err, 0, os.SEEK_SET)
        lines = [
            line.strip()
            for line in os.read(self._err, 1 << 16).decode(errors="replace").splitlines()
        ]
        lines = [line for line in lines if line]
        if not lines:
            return ""
        line = lines[-1] if lines[0].startswith("Traceback") else lines[0]
        return line[:200]

    def run(self, argv: list[str]) -> int:
        """Run `argv` to completion; its exit code (-N for signal N). Raise StepTimeout.
        `last_cpu_ns` is then its CPU time (user + system, its waited-for children included),
        `last_faults` its minor page faults (the same processes)."""
        # Its own process group, so a timeout or Ctrl-C can kill whatever it started too.
        pid = os.posix_spawn(argv[0], argv, ENV, file_actions=self._actions, setpgroup=0)
        try:
            pidfd = os.pidfd_open(pid)
            try:
                ready, _, _ = select.select([pidfd], [], [], self._timeout_s)
            finally:
                os.close(pidfd)
            if not ready:
                raise StepTimeout(
                    f"{os.path.basename(argv[0])} timed out after {self._timeout_s:g} s"
                )
            _, status, usage = os.wait4(pid, 0)
            self.last_cpu_ns = int((usage.ru_utime + usage.ru_stime) * 1e9)
            self.last_faults = usage.ru_minflt
        except BaseException:  # timeout, Ctrl-C: never leave the child running or unreaped
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            raise
        return os.waitstatus_to_exitcode(status)


def measure(spawner: Spawner, steps: list[Step]) -> Sample:
    """Time `steps` run one after the other; stop at the first that fails (after its fallback)."""
    spawner.clear_stderr()
    forced = False
    cpu = faults = 0
    parts: list[tuple[str, int, int]] = []
    start = time.perf_counter_ns()
    try:
        for step in steps:
            step_start, step_cpu = time.perf_counter_ns(), cpu
            code = spawner.run(step.argv)
            cpu += spawner.last_cpu_ns
            faults += spawner.last_faults
            if code != 0 and step.fallback is not None:
                forced = True
                spawner.clear_stderr()
                code = spawner.run(step.fallback)
                cpu += spawner.last_cpu_ns
                faults += spawner.last_faults
            if step.label:
                parts.append((step.label, time.perf_counter_ns() - step_start, cpu - step_cpu))
            if code != 0:
                what = step.label or os.path.basename(step.argv[0])
                detail = spawner.stderr_summary() or f"exit status {code}"
                return Sample(None, f"{what}: {detail}", forced)
    except StepTimeout as exc:
        return Sample(None, str(exc), forced)
    elapsed = time.perf_counter_ns() - start
    return Sample(elapsed, None, forced, cpu, faults, tuple(parts))


class Executor(Protocol):
    """Where a trial's steps are timed: here (`Local`) or in another namespace (`Worker`)."""

    def measure(self, steps: list[Step]) -> Sample: ...


class Local:
    def __init__(self, spawner: Spawner) -> None:
        self._spawner = spawner

    def measure(self, steps: list[Step]) -> Sample:
        return measure(self._spawner, steps)


class Worker:
    """A child process (started with `argv`) that times steps on request; see `serve()`."""

    def __init__(self, argv: list[str]) -> None:
        # Its own session: Ctrl-C reaches the bench only, which then shuts the worker down.
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        hello = self._read()
        self.error: str | None = None if hello.get("ready") else str(hello.get("error", "no reply"))

    def _read(self) -> dict[str, object]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            return {"error": f"worker exited (status {self._proc.poll()})"}
        reply: dict[str, object] = json.loads(line)
        return reply

    def measure(self, steps: list[Step]) -> Sample:
        assert self._proc.stdin is not None
        if self.error is not None:
            return Sample(None, self.error)
        try:
            self._proc.stdin.write(
                json.dumps([[s.argv, s.fallback, s.label] for s in steps]) + "\n"
            )
        except BrokenPipeError:
            self.error = f"worker exited (status {self._proc.poll()})"
            return Sample(None, self.error)
        reply = self._read()
        ns = reply.get("ns")
        error = reply.get("error")
        cpu = reply.get("cpu_ns")
        faults = reply.get("faults")
        parts = reply.get("steps")
        return Sample(
            ns if isinstance(ns, int) else None,
            str(error) if error is not None else None,
            bool(reply.get("forced", False)),
            cpu if isinstance(cpu, int) else 0,
            faults if isinstance(faults, int) else 0,
            tuple((str(a), int(b), int(c)) for a, b, c in parts) if isinstance(parts, list) else (),
        )

    def close(self) -> None:
        with contextlib.suppress(OSError):
            assert self._proc.stdin is not None
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()


def serve(spawner: Spawner) -> None:
    """The worker's loop: JSON [[argv, fallback, label], ...] in, a JSON Sample out, until EOF."""
    for line in sys.stdin:
        steps = [Step(argv, fallback, label) for argv, fallback, label in json.loads(line)]
        sample = measure(spawner, steps)
        reply = {
            "ns": sample.ns,
            "error": sample.error,
            "forced": sample.forced,
            "cpu_ns": sample.cpu_ns,
            "faults": sample.faults,
            "steps": sample.steps,
        }
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


@dataclass(frozen=True, slots=True)
class Summary:
    n: int
    median_ms: float
    p90_ms: float
    min_ms: float
    mean_ms: float


def summarize(samples_ns: list[int]) -> Summary:
    ms = sorted(ns / 1e6 for ns in samples_ns)
    p90 = statistics.quantiles(ms, n=10, method="inclusive")[-1] if len(ms) > 1 else ms[0]
    return Summary(len(ms), statistics.median(ms), p90, ms[0], statistics.fmean(ms))


def paired_ratio(a: list[int | None], b: list[int | None]) -> float | None:
    """Median over rounds of a/b, using the rounds where both succeeded (alternation pairs them)."""
    ratios = [x / y for x, y in zip(a, b, strict=True) if x is not None and y]
    return statistics.median(ratios) if ratios else None


@dataclass
class Row:
    """One line of a bench's table: a tool, how to time it once, and what it gave."""

    name: str
    command: str
    trial: Callable[[], Sample]
    failed: str | None = None
    streak: int = 0
    samples_ns: list[int | None] = field(default_factory=list)
    cpu_ns: list[int | None] = field(default_factory=list)
    faults: list[int | None] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    forced: int = 0
    #: label -> (wall ns, CPU ns) of that step in each kept trial that succeeded
    steps: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

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
            self.cpu_ns.append(sample.cpu_ns if sample.ns is not None else None)
            self.faults.append(sample.faults if sample.ns is not None else None)
            self.forced += sample.forced
            if sample.ns is not None:
                for label, ns, cpu in sample.steps:
                    self.steps.setdefault(label, []).append((ns, cpu))


def floor_row(name: str, executor: Executor, *commands: list[str]) -> Row:
    """A row timing `commands` one after the other (a floor: what any tool pays at least)."""
    steps = [Step(argv) for argv in commands]
    shown = " ; ".join(" ".join(argv) for argv in commands)
    return Row(name, shown, lambda: executor.measure(steps))


def run_rounds(phase: str, rows: list[Row], rounds: int, warmup: int, gap_s: float = 0.0) -> None:
    """Each round runs every row once, starting one row later than the round before; `gap_s`
    of sleep (untimed) before each trial."""
    total = warmup + rounds
    tty = sys.stderr.isatty()
    for r in range(total):
        shift = r % len(rows)
        for row in rows[shift:] + rows[:shift]:
            if row.failed is not None:
                if r >= warmup:
                    row.samples_ns.append(None)
                continue
            if gap_s:
                time.sleep(gap_s)
            row.record(row.trial(), keep=r >= warmup)
        if tty:
            state = "warm-up" if r < warmup else "timed"
            print(f"\r  {phase}: round {r + 1}/{total} ({state})  ", end="", file=sys.stderr)
    print(f"\r  {phase}: {total} rounds done ({warmup} warm-up)", file=sys.stderr)


def report(phase: str, title: str, rows: list[Row]) -> dict[str, object]:
    """Print the table and ratios of one bench; return them for the JSON file."""
    print(f"\n## {phase}: {title}")
    print(
        f"{'tool':<34} {'median':>8} {'p90':>8} {'min':>8} {'mean':>8}  ok  "
        "(median CPU, page faults)"
    )
    by_name: dict[str, Row] = {}
    result_rows: dict[str, object] = {}
    for row in rows:
        ok = [ns for ns in row.samples_ns if ns is not None]
        entry: dict[str, object] = {
            "command": row.command,
            "samples_ns": row.samples_ns,
            "cpu_ns": row.cpu_ns,
            "faults": row.faults,
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
            cpu = [n for n in row.cpu_ns if n]
            cpu_ms = statistics.median(cpu) / 1e6 if cpu else 0.0
            entry["cpu_median_ms"] = round(cpu_ms, 3)
            faults = [n for n in row.faults if n]
            faults_median = round(statistics.median(faults)) if faults else 0
            entry["faults_median"] = faults_median
            print(
                f"{row.name:<34} {s.median_ms:>5.2f} ms {s.p90_ms:>5.2f} ms {s.min_ms:>5.2f} ms "
                f"{s.mean_ms:>5.2f} ms  {len(ok)}/{len(row.samples_ns)}  "
                f"({cpu_ms:.2f} ms, {faults_median}){extra}"
            )
        else:
            why = row.failed or (row.errors[-1] if row.errors else "no samples")
            entry["failed"] = why
            print(f"{row.name:<34} failed: {why}")
        result_rows[row.name] = entry
    _report_steps(rows, result_rows)
    ratios: dict[str, object] = {}
    pairs = (
        ("bastion-runc", "runc"),
        ("bastion-base", "runc"),
        ("bastion-runc", "bastion-base"),
        ("bastion-runc", "crun"),
        ("runc", "crun"),
    )
    for a, b in pairs:
        if a in by_name and b in by_name:
            ra, rb = by_name[a], by_name[b]
            med = summarize([n for n in ra.samples_ns if n])
            ref = summarize([n for n in rb.samples_ns if n])
            paired = paired_ratio(ra.samples_ns, rb.samples_ns)
            ratio = med.median_ms / ref.median_ms
            cpu_paired = paired_ratio(ra.cpu_ns, rb.cpu_ns)
            faults_paired = paired_ratio(ra.faults, rb.faults)
            ratios[f"{a}/{b}"] = {
                "of_medians": round(ratio, 3),
                "paired_median": paired and round(paired, 3),
                "cpu_paired_median": cpu_paired and round(cpu_paired, 3),
                "faults_paired_median": faults_paired and round(faults_paired, 3),
            }
            paired_text = f" (median of per-round ratios {paired:.2f}x)" if paired else ""
            costs = f"; CPU time {cpu_paired:.2f}x" if cpu_paired else ""
            costs += f"; page faults {faults_paired:.2f}x" if faults_paired else ""
            print(f"  ratio {a}/{b}: {ratio:.2f}x{paired_text}{costs}")
        elif a == "bastion-runc" and b != "bastion-base" and (a in by_name or b in by_name):
            # one runtime failed every trial; a table of other tools (an engine's) says nothing
            print(f"  ratio {a}/{b}: n/a ({a if a not in by_name else b} has no samples)")
    return {"title": title, "rows": result_rows, "ratios": ratios}


def _report_steps(rows: list[Row], result_rows: dict[str, object]) -> None:
    """Per step of the rows timed in several labelled steps (create, start, delete): medians
    of wall and CPU time, and each beside runc's."""
    stepped = [row for row in rows if len(row.steps) > 1]
    if not stepped:
        return
    print("per step, median wall ms (median CPU ms):")
    medians: dict[str, dict[str, tuple[float, float]]] = {}
    for row in stepped:
        medians[row.name] = {
            label: (
                statistics.median(ns for ns, _ in parts) / 1e6,
                statistics.median(cpu for _, cpu in parts) / 1e6,
            )
            for label, parts in row.steps.items()
        }
        entry = result_rows[row.name]
        assert isinstance(entry, dict)
        entry["steps_median_ms"] = {
            k: [round(w, 3), round(c, 3)] for k, (w, c) in medians[row.name].items()
        }
        cells = "  ".join(f"{k} {w:.2f} ({c:.2f})" for k, (w, c) in medians[row.name].items())
        print(f"  {row.name:<32} {cells}")
    for name in ("bastion-runc", "bastion-base"):
        if name in medians and "runc" in medians:
            ratios = "  ".join(
                f"{k} {w / medians['runc'][k][0]:.2f}x ({c / medians['runc'][k][1]:.2f}x CPU)"
                for k, (w, c) in medians[name].items()
                if k in medians["runc"] and medians["runc"][k][0] and medians["runc"][k][1]
            )
            print(f"  {name}/runc by step: {ratios}")
