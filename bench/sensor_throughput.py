"""How many events per second the sensor decodes and applies on one core without losing any.

    .venv/bin/python bench/sensor_throughput.py [--seconds S] [--rates 100000,200000,...]

Live: for each target rate (events/s, rising), a fresh sensor worker (bench/sensor_worker.py:
probe + decoder + state tables) runs pinned to CPU 1 while the C workload on CPU 0 does
openat+close pairs of a small file at half that rate (two events per pair) for S seconds.
The probe's own counters say what was produced and dropped (ring buffer full); the bench
reports the highest rate sustained with zero drops, and the worker's CPU use at each step.
The rates stop rising after two steps with drops.

Offline: the records of one step are also written to a bastion capture, then decoded and
applied in this process with no kernel involved (events/s of decode alone and of
decode + apply): the consumer's ceiling. Anchor (the issue): Falco handles ~250k syscalls/s
on one CPU; the target is >= 250k/s.
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
    build,
    require_root_and_cpus,
    run_workload,
)

DEFAULT_RATES = "50000,100000,150000,200000,250000,300000,400000,500000,600000"


def live_step(
    built: Built, rate: int, seconds: float, bcap: str | None, extra: tuple[str, ...] = ()
) -> dict[str, float]:
    """One target rate: the workload's achieved rate and the worker's counters."""
    worker = SensorWorker(*(["--bcap", bcap] if bcap else []), *extra)
    try:
        ns, pairs = run_workload(
            [built.workload, "rate", str(rate / 2), str(seconds), built.target]
        )
        time.sleep(0.2)  # let the worker drain what is in flight before it is told to stop
        stats = worker.stop()
    finally:
        worker.kill()
    return {"target": rate, "achieved": 2 * pairs / (ns / 1e9), **stats}


def offline(path: str) -> dict[str, float]:
    """Decode, then decode + apply, every record of a capture, in batches as the live path
    reads them (nothing kept between batches); events/s of each."""
    sys.path.insert(0, os.path.join(REPO, "src"))
    from bastion.sensor.capture.bcap import BcapReader

    with BcapReader(path) as reader:
        batches = list(reader.batches())
        header = reader.header
    state = new_state()
    figures: dict[str, float] = {"records": float(sum(map(len, batches)))}
    for label, apply in (("decode", None), ("decode_apply", state.apply)):
        decode = make_decoder(header).decode
        count = 0
        t0 = time.perf_counter()
        for records in batches:
            events = decode(records)
            count += len(events)
            if apply is not None:
                for event in events:
                    apply(event)
        figures[f"{label}_per_s"] = count / (time.perf_counter() - t0)
    return figures


def make_decoder(header: Any) -> Any:
    """The live probe's decoder for records read back from a capture (the same code), with
    the capture's boot epoch, as `bastion events -r` builds it."""
    from bastion.sensor.probe.decode import Decoder

    return Decoder(boot_epoch=header.boot_time_ns)


def new_state() -> Any:
    from bastion.sensor.assemble import new_state as state_for

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
    args = parser.parse_args()
    extra: tuple[str, ...] = ("--ring-size", str(args.ring_mib << 20))
    if args.spill_mib:
        extra += ("--spill-mib", str(args.spill_mib))
    for path in args.rules or ():
        extra += ("--rules", path)
    started = host.timestamp()
    steps: list[dict[str, float]] = []
    tmp = tempfile.mkdtemp(prefix="bst-test-throughput-")
    capture = os.path.join(tmp, "step.bcap")
    try:
        require_root_and_cpus()
        host.catch_signals()
        with build() as built:
            print(
                f"{'target/s':>10}{'achieved/s':>12}{'produced':>10}{'dropped':>9}{'cpu %':>7}"
                f"{'catch-up s':>11}"
            )
            failures = 0
            for rate in (int(r) for r in args.rates.split(",")):
                step = live_step(built, rate, args.seconds, None, extra)
                step["dropped"] = step["dropped_ring_full"] + step.get("dropped_spill", 0)
                steps.append(step)
                busy = 100 * step["cpu_seconds"] / max(step["wall_seconds"], 1e-9)
                print(
                    f"{rate:>10}{step['achieved']:>12.0f}{step['produced']:>10.0f}"
                    f"{step['dropped']:>9.0f}{busy:>7.0f}{step.get('catch_up_seconds', 0):>11.2f}"
                )
                failures = failures + 1 if step["dropped"] else 0
                if failures == 2:
                    break
            live_step(built, args.offline_rate, min(args.seconds, 2.0), capture)
        result = offline(capture)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    finally:
        if os.path.exists(capture):
            os.unlink(capture)
        os.rmdir(tmp)
    clean = [s["achieved"] for s in steps if not s["dropped"]]
    best = max(clean, default=0.0)
    print(f"\nhighest rate with 0 drops: {best:,.0f} events/s (target >= 250,000; Falco ~250k)")
    print(
        f"offline, {result['records']:.0f} records: decode {result['decode_per_s']:,.0f}/s, "
        f"decode + apply {result['decode_apply_per_s']:,.0f}/s"
    )
    path = host.save_results(
        "sensor_throughput", started, {"args": vars(args), "steps": steps, "offline": result}
    )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    host.run_main(main)
