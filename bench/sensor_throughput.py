"""How many events per second the sensor decodes and applies on one core without losing any.

    .venv/bin/python bench/sensor_throughput.py [--seconds S] [--rates 100000,200000,...]
        [--decoders compiled,python,closures] [--rules FILE ...]

Live: for each target rate (events/s, rising), a fresh sensor worker (bench/sensor_worker.py:
probe + decoder + state tables) runs pinned to CPU 1 while the C workload on CPU 0 does
openat+close pairs of a small file at half that rate (two events per pair) for S seconds.
The probe's own counters say what was produced and dropped (ring buffer full); the bench
reports the highest rate sustained with zero drops, and the worker's CPU use at each step.
The rates stop rising after two steps with drops. Each step runs once per decoder of
`--decoders`, the order alternating step by step: ``compiled`` (probe/accel.c, the default when
built) and ``python`` (the same worker with ``BASTION_SENSOR_ACCEL=0``), so the two are measured
side by side in the same minutes of a shared machine; a decoder stops rising on its own.
``closures`` is ``compiled`` with the rules on the closures of rules/compiler.py
(``BASTION_SENSOR_RULES_CODEGEN=0``) instead of the generated matchers of rules/codegen.py:
with ``--rules``, ``--decoders compiled,closures`` compares the two rule paths.
``no-verdicts`` is ``compiled`` without the verdicts kept per opened file
(sensor/open_verdicts.py, ``BASTION_SENSOR_OPEN_VERDICTS=0``): every open meets its matcher.

Offline: the records of one step are also written to a bastion capture, then decoded and
applied in this process with no kernel involved (the flood's cgroup settled as the host's, as
a sensor has it 2 s into a flood; the pure-Python configuration's state update in Python too)
(events/s of decode alone and of decode + apply, and with ``--rules`` of decode + apply + rules
as the pipeline feeds them), per decoder, in alternating rounds, from CPU time (process_time),
with their medians and the ratio: the consumer's ceiling. Anchor (the issue): Falco handles ~250k
syscalls/s on one CPU; the target is >= 500k/s. The load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import host
from bench.sensor_common import (
    REPO,
    BenchError,
    Built,
    SensorWorker,
    accel_switched,
    build,
    loadavg,
    median,
    require_root_and_cpus,
    run_workload,
)

DEFAULT_RATES = "50000,100000,150000,200000,250000,300000,400000,500000,600000,700000,800000"
#: The decoders compared: the worker's environment for each (probe/accel.py reads it).
DECODERS: dict[str, dict[str, str]] = {
    name: {
        "BASTION_SENSOR_ACCEL": accel,
        "BASTION_SENSOR_RULES_CODEGEN": codegen,
        "BASTION_SENSOR_OPEN_VERDICTS": verdicts,
    }
    for name, accel, codegen, verdicts in (
        ("compiled", "1", "1", "1"),
        ("python", "0", "1", "1"),
        ("closures", "1", "0", "1"),
        ("no-verdicts", "1", "1", "0"),
    )
}
OFFLINE_ROUNDS = 3


def live_step(
    built: Built,
    rate: int,
    seconds: float,
    bcap: str | None,
    extra: tuple[str, ...] = (),
    decoder: str = "compiled",
) -> dict[str, Any]:
    """One target rate: the workload's achieved rate and the worker's counters."""
    worker = SensorWorker(*(["--bcap", bcap] if bcap else []), *extra, env=DECODERS[decoder])
    try:
        ns, pairs = run_workload(
            [built.workload, "rate", str(rate / 2), str(seconds), built.target]
        )
        time.sleep(0.2)  # let the worker drain what is in flight before it is told to stop
        stats = worker.stop()
    finally:
        worker.kill()
    env = DECODERS[decoder]
    if bool(stats.get("accelerated")) != (env["BASTION_SENSOR_ACCEL"] == "1"):
        raise BenchError(
            f"the {decoder} step's worker ran the other decoder (run scripts/setup to build it)"
        )
    generated = stats.get("rules_codegen")
    if generated is not None and generated != (env["BASTION_SENSOR_RULES_CODEGEN"] == "1"):
        raise BenchError(f"the {decoder} step's worker ran the other rule path")
    if generated is not None:  # rules loaded: the worker says whether verdicts were on
        verdicts_on = stats.get("open_verdicts_skipped") is not None
        if verdicts_on != (env["BASTION_SENSOR_OPEN_VERDICTS"] == "1"):
            raise BenchError(f"the {decoder} step's worker had the open verdicts the other way")
    return {"target": rate, "achieved": 2 * pairs / (ns / 1e9), "decoder": decoder, **stats}


def offline(
    path: str, decoders: list[str], rules: list[str] | None = None
) -> dict[str, dict[str, list[float]]]:
    """Decode, then decode + apply (+ rules, with `rules`), every record of a capture, in
    batches as the live path reads them (nothing kept between batches): events per CPU second
    of each, per decoder, `OFFLINE_ROUNDS` rounds with the decoders' order alternating."""
    sys.path.insert(0, os.path.join(REPO, "src"))
    from bastion.sensor.capture.bcap import BcapReader
    from bastion.sensor.gc_policy import event_loop_gc

    with BcapReader(path) as reader:
        batches = list(reader.batches())
        header = reader.header
    figures: dict[str, dict[str, list[float]]] = {
        name: {label: [] for label in OFFLINE_STAGES[: 3 if rules else 2]} for name in decoders
    }
    cgroups = {event.cgroup_id for event in make_decoder(header, False).decode(batches[0])}
    for round_ in range(OFFLINE_ROUNDS):
        for name in decoders if round_ % 2 == 0 else decoders[::-1]:
            state = new_state(DECODERS[name]["BASTION_SENSOR_ACCEL"] == "1")
            for cgroup_id in cgroups:  # the flood's cgroup settled as the host's: a sensor 2 s
                state._cgroup_containers.setdefault(cgroup_id, "")  # into it (the steady state)
            stages: list[tuple[str, Any]] = [("decode", None), ("decode_apply", apply_each(state))]
            if rules:
                stages.append(("decode_apply_rules", pipeline_feed(state, rules, name)))
            for label, feed in stages:
                decode = make_decoder(header, DECODERS[name]["BASTION_SENSOR_ACCEL"] == "1").decode
                count = 0
                with event_loop_gc():  # as the live loop runs (sensor/gc_policy.py)
                    t0 = time.process_time()
                    for records in batches:
                        events = decode(records)
                        count += len(events)
                        if feed is not None:
                            feed(events)
                    figures[name][label].append(count / (time.process_time() - t0))
    return figures


OFFLINE_STAGES = ("decode", "decode_apply", "decode_apply_rules")


def pipeline_feed(state: Any, rules: list[str], name: str) -> Any:
    """A batch's evaluation as the pipeline's: state, then the rules (matchers generated,
    or the closures for ``closures``), alerts rendered."""
    from bastion.sensor.assemble import load_rules
    from bastion.sensor.pipeline import Pipeline

    loaded = load_rules(rules, state)
    engine = loaded.engine
    engine.use_generated(DECODERS[name]["BASTION_SENSOR_RULES_CODEGEN"] == "1")
    if DECODERS[name]["BASTION_SENSOR_OPEN_VERDICTS"] == "0":
        engine.wrap_matchers(None)
    elif loaded.verdicts is None:
        raise BenchError("the open verdicts are off in this process (BASTION_SENSOR_OPEN_VERDICTS)")
    return Pipeline(engine=engine, state=state, hostname="bench").feed


def apply_each(state: Any) -> Any:
    """A batch's state update alone."""
    apply = state.apply

    def feed(events: Any) -> None:
        for event in events:
            apply(event)

    return feed


def make_decoder(header: Any, compiled: bool) -> Any:
    """The live probe's decoder for records read back from a capture (the same code), with
    the capture's boot epoch, as `bastion events -r` builds it; compiled or pure Python."""
    from bastion.sensor.probe.decode import Decoder

    return Decoder(boot_epoch=header.boot_time_ns, accel=compiled)


def new_state(compiled: bool) -> Any:
    """A seeded state whose `apply` is the compiled twin (state/fast.py) or, for the pure-Python
    configuration, the Python method, as the worker's environment makes it."""
    from bastion.sensor.assemble import new_state as state_for

    with accel_switched(compiled):
        return state_for(seed=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rates", default=DEFAULT_RATES, help="comma-separated events/s")
    parser.add_argument("--offline-rate", type=int, default=200_000)
    parser.add_argument(
        "--spill-mib",
        type=int,
        default=0,
        help="the worker evaluates from a spill area of this size (0: reads the ring itself)",
    )
    parser.add_argument("--rules", action="append", help="rules file(s) the worker runs too")
    parser.add_argument("--ring-mib", type=int, default=8, help="the sensor worker's ring")
    parser.add_argument(
        "--decoders",
        default="compiled,python",
        help="comma-separated, compared side by side: " + ", ".join(DECODERS),
    )
    args = parser.parse_args()
    decoders = args.decoders.split(",")
    if not decoders or set(decoders) - set(DECODERS):
        parser.error(f"--decoders: choose among {', '.join(DECODERS)}")
    extra: tuple[str, ...] = ("--ring-size", str(args.ring_mib << 20))
    if args.spill_mib:
        extra += ("--spill-mib", str(args.spill_mib))
    for path in args.rules or ():
        extra += ("--rules", path)
    started = host.timestamp()
    steps: list[dict[str, Any]] = []
    tmp = tempfile.mkdtemp(prefix="bst-test-throughput-")
    capture = os.path.join(tmp, "step.bcap")
    try:
        require_root_and_cpus()
        host.catch_signals()
        print(f"load average at start: {loadavg()}")
        with build() as built:
            print(
                f"{'decoder':>9}{'target/s':>10}{'achieved/s':>12}{'produced':>10}{'dropped':>9}"
                f"{'cpu %':>7}{'catch-up s':>11}"
            )
            failures = dict.fromkeys(decoders, 0)
            for index, rate in enumerate(int(r) for r in args.rates.split(",")):
                running = [d for d in decoders if failures[d] < 2]
                if not running:
                    break
                for decoder in running if index % 2 == 0 else running[::-1]:
                    step = live_step(built, rate, args.seconds, None, extra, decoder)
                    step["dropped"] = step["dropped_ring_full"] + step.get("dropped_spill", 0)
                    steps.append(step)
                    busy = 100 * step["cpu_seconds"] / max(step["wall_seconds"], 1e-9)
                    print(
                        f"{decoder:>9}{rate:>10}{step['achieved']:>12.0f}"
                        f"{step['produced']:>10.0f}{step['dropped']:>9.0f}{busy:>7.0f}"
                        f"{step.get('catch_up_seconds', 0):>11.2f}"
                    )
                    failures[decoder] = failures[decoder] + 1 if step["dropped"] else 0
            live_step(built, args.offline_rate, min(args.seconds, 2.0), capture)
        result = offline(capture, decoders, args.rules)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    finally:
        if os.path.exists(capture):
            os.unlink(capture)
        os.rmdir(tmp)
    print(f"load average at end: {loadavg()}")
    print()
    best: dict[str, float] = {}
    for decoder in decoders:
        clean = [s["achieved"] for s in steps if s["decoder"] == decoder and not s["dropped"]]
        best[decoder] = max(clean, default=0.0)
        print(f"{decoder}: highest rate with 0 drops {best[decoder]:,.0f} events/s")
    print("(target >= 500,000; Falco ~250k)")
    print(f"offline, {OFFLINE_ROUNDS} alternating rounds, events per CPU second (median):")
    for label in OFFLINE_STAGES[: 3 if args.rules else 2]:
        medians = {d: median(result[d][label]) for d in decoders}
        line = ", ".join(f"{d} {v:,.0f}/s" for d, v in medians.items())
        for other in ("python", "closures", "no-verdicts"):
            if {"compiled", other} <= set(medians):
                line += f" (compiled/{other} {medians['compiled'] / medians[other]:.2f}x)"
        print(f"  {label.replace('_', ' + ')}: {line}")
    path = host.save_results(
        "sensor_throughput",
        started,
        {"args": vars(args), "steps": steps, "offline": result, "best": best},
    )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    host.run_main(main)
