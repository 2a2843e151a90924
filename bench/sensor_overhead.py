"""What the sensor costs a workload: system-call loops with no probe, the floor, the full sensor.

    .venv/bin/python bench/sensor_overhead.py [--rounds N] [--getppid N] [--openclose N]

Two C workloads (bench/sensor_workload.c, compiled into a temp dir), pinned to CPU 0, each
timing its own loop: N getppid() calls (a syscall the sensor does not capture: what every
process pays for the sensor's sys_exit dispatcher) and N openat+close pairs of a small file
(two captured events per pair). Three configurations, alternated round by round (the order
rotates) so a slow spell of the machine hits each alike:
- `none`: no BPF program attached;
- `floor`: an empty tp_btf sys_exit program (bench/sensor_floor.bpf.c): the price of
  being attached to every system call at all;
- `record`: the least a sensor that sends every captured event can do (the same file's
  second program): a bare 40-byte record (bastion's record header: stamp, cgroup, ids,
  result; no parameter) per open/openat/close, through a ring drained by a process pinned to
  CPU 1 that copies it out and decodes nothing (bench/sensor_worker.py --floor-object);
- `record-path`: `record` with the path of each open after the header, read from the
  caller's memory as the probe reads it: the one parameter no rule on files does without;
- `sensor`: bastion's probe with its default events, read continuously by a separate process
  pinned to CPU 1 that decodes every record and applies it to the state tables
  (bench/sensor_worker.py), and runs `--rules` on them when given; its counters (produced,
  delivered, dropped, filtered) are reported too;
- `filtered` (with `--only ...,filtered` and `--rules`): `sensor` with the kernel-side open
  filter those rules allow (sensor/kernel_filter.py), as `bastion watch` runs by default.
`--target /dev/null` makes the openat+close loop the flood of the sensor-scale issue.
It prints each configuration's median loop time, the overhead vs `none`, and for `sensor` the
ratio of its overhead to the floor's; then, from one untimed pass with kernel.bpf_stats_enabled,
the nanoseconds per run of the floors' programs and of the probe's dispatcher as the kernel
counts them (loop times on a shared VM vary by +-15% run to run; these do not). Targets (the
issue): getppid within 1.1x of the floor's overhead; openat+close at most +25% over `none`.
Results go to bench/results/.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import host
from bench.sensor_common import (
    BenchError,
    Built,
    SensorWorker,
    bpf_stats,
    build,
    floor_programs,
    median,
    ns_per_run,
    program_ids,
    require_root_and_cpus,
    run_workload,
)

CONFIGS = ("none", "floor", "record", "record-path", "sensor", "filtered")
#: The record floors' programs in sensor_floor.bpf.c, by configuration.
RECORD_FLOORS = {"record": "bst_bench_record", "record-path": "bst_bench_record_path"}


#: System calls per loop iteration of each workload (all of them captured by the probe for
#: openat+close, none for getppid).
SYSCALLS_PER_ITERATION = {"getppid": 1, "openat+close": 2}


def iterations(args: argparse.Namespace) -> dict[str, int]:
    return {"getppid": args.getppid, "openat+close": args.openclose}


def workloads(built: Built, args: argparse.Namespace) -> dict[str, list[str]]:
    return {
        "getppid": [built.workload, "getppid", str(args.getppid)],
        "openat+close": [
            built.workload,
            "openclose",
            str(args.openclose),
            args.target or built.target,
        ],
    }


def _timed(argv: list[str]) -> tuple[int, int]:
    wall, cpu = run_workload(argv)[:2]
    return wall, cpu


def one_round(
    built: Built,
    config: str,
    loads: dict[str, list[str]],
    drops: dict[str, list[dict[str, float]]],
    worker_args: tuple[str, ...] = (),
    ring_args: tuple[str, ...] = (),
) -> dict[str, tuple[int, int]]:
    """Run every workload once under `config`; their loop times and CPU times in ns."""
    if config == "none":
        return {name: _timed(argv) for name, argv in loads.items()}
    if config == "floor":
        with floor_programs(built.floor_object):
            return {name: _timed(argv) for name, argv in loads.items()}
    if config in RECORD_FLOORS:
        worker = SensorWorker(*_floor_args(built, config), *ring_args)
    else:
        extra = ("--kernel-filter",) if config == "filtered" else ()
        worker = SensorWorker(*worker_args, *extra)
    try:
        times = {name: _timed(argv) for name, argv in loads.items()}
        drops.setdefault(config, []).append(worker.stop())
    finally:
        worker.kill()
    return times


def _floor_args(built: Built, config: str) -> tuple[str, ...]:
    return ("--floor-object", built.floor_object, "--floor-program", RECORD_FLOORS[config])


def _worker_costs(
    program: str, worker_args: tuple[str, ...], loads: dict[str, list[str]]
) -> dict[str, float]:
    """ns per run of `program` while each workload runs, under a worker started with
    `worker_args` (its own programs only: another session may load the same names)."""
    before = program_ids(program)
    worker = SensorWorker(*worker_args)
    try:
        ours = program_ids(program) - before
        costs = {name: ns_per_run(program, argv, ours) for name, argv in loads.items()}
        worker.stop()
    finally:
        worker.kill()
    return costs


def kernel_costs(
    built: Built,
    loads: dict[str, list[str]],
    filtered_args: tuple[str, ...] | None = None,
    ring_args: tuple[str, ...] = (),
    records: tuple[str, ...] = (),
) -> dict[str, dict[str, float]]:
    """One untimed pass with kernel.bpf_stats_enabled: ns per run of the floors' programs and
    of the probe's sys_exit dispatcher, as the kernel counts them. Far less noisy than loop
    times on a shared VM: it isolates the programs' own cost from everything else."""
    costs: dict[str, dict[str, float]] = {"floor": {}}
    with bpf_stats():
        before = program_ids("bst_bench_exit")
        with floor_programs(built.floor_object):
            ours = program_ids("bst_bench_exit") - before
            for name, argv in loads.items():
                costs["floor"][name] = ns_per_run("bst_bench_exit", argv, ours)
        for config in records:  # the record floors, each ring drained by its worker
            floor_args = (*_floor_args(built, config), *ring_args)
            costs[config] = _worker_costs(RECORD_FLOORS[config], floor_args, loads)
        costs["sensor"] = _worker_costs("bst_sys_exit", (), loads)
        if filtered_args is not None:  # the probe with the kernel filter the rules allow
            costs["filtered"] = _worker_costs(
                "bst_sys_exit", (*filtered_args, "--kernel-filter"), loads
            )
    return costs


def report(
    samples: dict[str, dict[str, list[int]]], loads: dict[str, list[str]], what: str
) -> None:
    """Medians, overhead vs `none`, and the sensor's ratios to the floor (when both ran)."""
    head = f"{'workload':<14}{'config':<12}{what:>11}{'overhead':>10}"
    print(f"\n{head}{'time/floor':>12}{'overhead/floor':>16}")
    for name in loads:
        base = median([float(x) for x in samples["none"][name]])
        floor = samples.get("floor", {}).get(name)
        floor_over = median([float(x) for x in floor]) / base - 1 if floor else float("nan")
        for config in samples:
            med = median([float(x) for x in samples[config][name]])
            over = med / base - 1
            time_ratio = over_ratio = ""
            if config not in ("none", "floor") and floor:
                time_ratio = f"{(1 + over) / (1 + floor_over):.3f}x"
                over_ratio = f"{over / floor_over:.2f}x" if floor_over > 0 else "n/a"
            row = f"{name:<14}{config:<12}{med / 1e6:>11.1f}{over * 100:>+9.1f}%"
            print(f"{row}{time_ratio:>12}{over_ratio:>16}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--getppid", type=int, default=2_000_000)
    parser.add_argument("--openclose", type=int, default=1_000_000)
    parser.add_argument("--only", default=",".join(CONFIGS), help="configs to run (none first)")
    parser.add_argument(
        "--spill-mib",
        type=int,
        default=0,
        help="the sensor worker drains into a spill area of this size (every event delivered)",
    )
    parser.add_argument("--ring-mib", type=int, default=8, help="the sensor worker's ring")
    parser.add_argument("--target", help="the file openat+close opens (default: a temp file)")
    parser.add_argument(
        "--rules", action="append", default=[], help="rules the sensor worker runs (repeatable)"
    )
    args = parser.parse_args()
    ring_args = ("--ring-size", str(args.ring_mib << 20))
    worker_args: tuple[str, ...] = ring_args
    for rules in args.rules:
        worker_args += ("--rules", rules)
    if "filtered" in args.only.split(",") and not args.rules:
        parser.error("the filtered config derives its filter from --rules")
    if args.spill_mib:
        worker_args += ("--spill-mib", str(args.spill_mib))
    configs = tuple(c for c in CONFIGS if c in args.only.split(","))
    if "none" not in configs:
        parser.error("--only must include none: overheads are relative to it")
    started = host.timestamp()
    try:
        require_root_and_cpus()
        host.catch_signals()
        with build() as built:
            loads = workloads(built, args)
            samples: dict[str, dict[str, list[int]]] = {c: {n: [] for n in loads} for c in configs}
            cpu: dict[str, dict[str, list[int]]] = {c: {n: [] for n in loads} for c in configs}
            drops: dict[str, list[dict[str, float]]] = {}
            one_round(built, "none", loads, drops)  # warm-up: page cache, CPU frequency
            for r in range(args.rounds):
                k = r % len(configs)
                order = configs[k:] + configs[:k]
                for config in order:
                    for name, (ns, cpu_ns) in one_round(
                        built, config, loads, drops, worker_args, ring_args
                    ).items():
                        samples[config][name].append(ns)
                        cpu[config][name].append(cpu_ns)
                print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
            filtered = worker_args if "filtered" in configs else None
            records = tuple(c for c in configs if c in RECORD_FLOORS)
            costs = (
                kernel_costs(built, loads, filtered, ring_args, records)
                if {"floor", "sensor"} <= set(configs)
                else {}
            )
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    report(samples, loads, "median ms")
    # the workload's own CPU time (BPF programs on its syscalls included): time it waited for
    # its CPU on a loaded machine is not in it, so it is the steadier of the two figures
    report(cpu, loads, "CPU ms")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if costs:
        print("\nin-kernel ns per sys_exit program run (kernel.bpf_stats_enabled, one pass):")
        for name in loads:
            floor_ns, sensor_ns = costs["floor"][name], costs["sensor"][name]
            line = (
                f"  {name:<14} floor {floor_ns:7.1f}  sensor {sensor_ns:7.1f}  "
                f"ratio {sensor_ns / floor_ns:.2f}x"
            )
            for config in RECORD_FLOORS:
                if config in costs:
                    line += f"  {config} {costs[config][name]:7.1f}"
            if "filtered" in costs:
                line += f"  filtered {costs['filtered'][name]:7.1f}"
            print(line)
        print(
            "\nthe programs' own time as a share of the bare loop (ns per run x system calls per"
            "\niteration / the median ns per iteration of `none`); a config's overhead is this plus"
            "\nwhat the hook costs outside its program (the floor's overhead minus its share),"
            "\nplus its reader's effect on the workload's CPU:"
        )
        for name in loads:
            bare = median([float(x) for x in samples["none"][name]]) / iterations(args)[name]
            shares = "  ".join(
                f"{config} {per_load[name] * SYSCALLS_PER_ITERATION[name] / bare * 100:+.1f}%"
                for config, per_load in costs.items()
            )
            print(f"  {name:<14} {shares}")
    for config, workers in drops.items():
        total = {
            key: sum(int(d.get(key, 0)) for d in workers)
            for key in ("produced", "decoded", "dropped_ring_full", "dropped_spill")
        }
        kept = sum(int(d.get("filtered", 0)) for d in workers)
        worker_cpu = sum(float(d.get("cpu_seconds", 0.0)) for d in workers)
        print(
            f"\nsensor worker ({config}, all rounds): {total['produced']} events produced, "
            f"{total['decoded']} delivered, {total['dropped_ring_full']} dropped (ring full), "
            f"{total['dropped_spill']} dropped (spill area full), {kept} kept back by the "
            f"kernel filter; worker CPU {worker_cpu:.1f} s"
        )
    print(", ".join(f"{k}={v}" for k, v in vars(args).items()))
    path = host.save_results(
        "sensor_overhead",
        started,
        {
            "args": vars(args),
            "samples_ns": samples,
            "cpu_ns": cpu,
            "sensor_workers": drops,
            "kernel_ns_per_run": costs,
        },
    )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    host.run_main(main)
