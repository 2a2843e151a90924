"""The full sensor as the benches run it: probe + decoder + state tables, reading continuously.

    .venv/bin/python bench/sensor_worker.py [--ring-size N] [--events a,b] [--bcap FILE]
        [--spill-mib N] [--rules FILE ...]

Prints ``ready`` once the probe is attached and the state seeded; on SIGTERM it drains the
ring, then prints one JSON line: the probe's counters, how many events it decoded and applied,
the CPU seconds it used, and whether the compiled decoder ran (``BASTION_SENSOR_ACCEL=0`` in
its environment turns it off: probe/accel.py). With ``--bcap`` it also writes the raw records
to a bastion capture (for sensor_throughput.py's no-kernel decode figure). The benches pin it
to a CPU.

With ``--spill-mib N`` it runs as `bastion watch` does: a reader thread drains the rings into
a spill area of N MiB and the evaluation consumes it (sensor/spill.py); on SIGTERM it
evaluates what the spill still holds and reports how long that took (``catch_up_seconds``).
``--rules FILE`` (repeatable) adds the rules engine (the pipeline: state + rules) to the
evaluation; ``--kernel-filter`` gives the probe the open filter those rules allow, as `bastion
watch` does (sensor/kernel_filter.py).

With ``--floor-object OBJ`` (sensor_floor.bpf.c, built by sensor_common.build) it runs no
probe: it attaches one of that object's record floors (``--floor-program``: `bst_bench_record`,
a bare 40-byte header per captured call, or `bst_bench_record_path`, the header and an open's
path) and drains its ring as the probe's reader drains the bulk ring (the same poll step, one
copy out per read), decoding nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))

_stop = False
_stopped_at = 0.0


def _on_term(signum: int, frame: object) -> None:
    global _stop, _stopped_at
    if not _stop:
        _stopped_at = time.monotonic()
    _stop = True


def spilled(args: argparse.Namespace) -> int:
    """The watch path: probe -> reader thread -> spill -> decode -> state (-> rules); with
    no spill, the evaluation reads the ring itself."""
    from bastion.sensor.assemble import load_rules, new_state
    from bastion.sensor.pipeline import Pipeline
    from bastion.sensor.probe import Probe
    from bastion.sensor.sources import ProbeSource
    from bastion.sensor.spill import SpillSettings

    state = new_state(seed=True)
    pipeline = None
    verdicts = None
    if args.rules:
        rules = load_rules(args.rules, state)
        verdicts = rules.verdicts
        pipeline = Pipeline(engine=rules.engine, state=state, hostname="bench")
    events = args.events.split(",") if args.events else None
    open_filter = None
    if args.kernel_filter:
        if pipeline is None:
            raise SystemExit("--kernel-filter derives the filter from --rules")
        from bastion.sensor.kernel_filter import compile_filter

        open_filter = compile_filter(rules.engine, rules.ruleset).open_filter()
    probe = Probe(ring_size=args.ring_size, events=events, open_filter=open_filter)
    cpu0 = wall0 = 0.0

    def started() -> None:
        nonlocal cpu0, wall0
        print("ready", flush=True)
        cpu0 = time.process_time()
        wall0 = time.monotonic()

    spill = SpillSettings(limit_bytes=args.spill_mib << 20)
    source = ProbeSource(state, probe, lambda: _stop, started, spill=spill)
    decoded = 0
    apply = state.apply
    for batch in source.batches():
        if pipeline is not None:
            pipeline.feed(batch)
        else:
            for event in batch:
                apply(event)
        decoded += len(batch)
    end = time.monotonic()
    stats = dict(source.statistics)
    stats.update(
        decoded=decoded,
        cpu_seconds=time.process_time() - cpu0,
        wall_seconds=end - wall0,
        catch_up_seconds=end - _stopped_at,
        peak_rss_bytes=_hwm(),
        accelerated=probe.decoder.accelerated,
        rules_codegen=None if pipeline is None else pipeline.engine.generate,
        # opens whose rules the verdicts kept per opened file skipped (None: verdicts off)
        open_verdicts_skipped=None if verdicts is None else verdicts.skipped,
        # how many of the state's events its compiled twin took (the rest: the Python method)
        state_events=state.events,
        state_events_compiled=state.stats()["events_compiled"],
    )
    print(json.dumps(stats))
    return 0


def record_floor(args: argparse.Namespace) -> int:
    """The record floor: its program attached, its ring drained (copied out) until SIGTERM."""
    from bastion._sys import bpf
    from bastion.sensor.probe.ringbuf import RingBuffer

    obj = bpf.object_open(args.floor_object)
    link = ring = None
    try:
        ring_map = bpf.find_map(obj, "bst_bench_ring")
        bpf.map_set_max_entries(ring_map, args.ring_size, "bst_bench_ring")
        bpf.object_load(obj, args.floor_object)
        name = args.floor_program
        link = bpf.program_attach(bpf.find_program(obj, name), name)
        ring = RingBuffer(bpf.map_fd(ring_map, "bst_bench_ring"), args.ring_size)
        print("ready", flush=True)
        cpu0, wall0 = time.process_time(), time.monotonic()
        while True:
            stopping = _stop
            if stopping or ring.poll(0.05):
                while ring.read_chunk(1 << 20)[1]:
                    pass
            if stopping:
                break
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        bpf.link_destroy(link)
        link = None
        while ring.read_chunk(1 << 20)[1]:  # what was committed before the detach
            pass
        dropped_map = bpf.map_fd(bpf.find_map(obj, "bst_bench_dropped"), "bst_bench_dropped")
        dropped = sum(bpf.percpu_lookup_u64(dropped_map, 0))
        read = ring.records_read
    finally:
        if link is not None:
            bpf.link_destroy(link)
        if ring is not None:
            ring.close()
        bpf.object_close(obj)
    print(
        json.dumps(
            {
                "produced": read + dropped,
                "read": read,
                "decoded": read,  # delivered: copied out of the ring (nothing to decode)
                "dropped_ring_full": dropped,
                "cpu_seconds": cpu,
                "wall_seconds": wall,
            }
        )
    )
    return 0


def _hwm() -> int:
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("VmHWM:"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ring-size", type=int, default=8 << 20)
    parser.add_argument("--events", help="comma-separated event names (default: the schema's)")
    parser.add_argument("--bcap", help="also write the raw records to this bastion capture")
    parser.add_argument("--spill-mib", type=int, default=0, help="evaluate from a spill area")
    parser.add_argument("--rules", action="append", help="rules file(s) to evaluate too")
    parser.add_argument(
        "--kernel-filter", action="store_true", help="the open filter the --rules allow, as watch"
    )
    parser.add_argument(
        "--floor-object", help="no probe: drain sensor_floor.bpf.o's record floor instead"
    )
    parser.add_argument("--floor-program", default="bst_bench_record", help="which record floor")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)
    if args.floor_object:
        return record_floor(args)
    if args.spill_mib or args.rules:  # the ProbeSource path (spill 0: it reads the ring itself)
        return spilled(args)

    from bastion.sensor.capture.bcap import BcapHeader, BcapWriter, Snapshot
    from bastion.sensor.gc_policy import event_loop_gc
    from bastion.sensor.probe import Probe
    from bastion.sensor.state import SensorState

    state = SensorState()
    state.seed_from_proc()
    events = args.events.split(",") if args.events else None
    probe = Probe(ring_size=args.ring_size, events=events)
    writer = None
    decoded = 0
    with probe, event_loop_gc():  # as ProbeSource runs its loop (sensor/gc_policy.py)
        if args.bcap:
            writer = BcapWriter(args.bcap, BcapHeader.now(ring_size=args.ring_size), Snapshot())
        decode = probe.decoder.decode
        apply = state.apply
        print("ready", flush=True)
        cpu0 = time.process_time()
        wall0 = time.monotonic()
        while True:
            stopping = _stop
            if stopping or probe.poll(0.05):
                while raw := probe.read_raw():
                    if writer is not None:
                        writer.write_batch(raw)
                    batch = decode(raw)
                    for event in batch:
                        apply(event)
                    decoded += len(batch)
            if stopping:
                break
        stats = dataclasses.asdict(probe.statistics())
        cpu = time.process_time() - cpu0
        wall = time.monotonic() - wall0
        if writer is not None:
            writer.close({k: v for k, v in stats.items() if isinstance(v, (int, float))})
    print(
        json.dumps(
            {
                **stats,
                "decoded": decoded,
                "cpu_seconds": cpu,
                "wall_seconds": wall,
                "accelerated": probe.decoder.accelerated,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
