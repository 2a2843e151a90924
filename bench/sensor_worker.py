"""The full sensor as the benches run it: probe + decoder + state tables, reading continuously.

    .venv/bin/python bench/sensor_worker.py [--ring-size N] [--events a,b] [--bcap FILE]

Prints ``ready`` once the probe is attached and the state seeded; on SIGTERM it drains the
ring, then prints one JSON line: the probe's counters, how many events it decoded and applied,
and the CPU seconds it used. With ``--bcap`` it also writes the raw records to a bastion
capture (for sensor_throughput.py's no-kernel decode figure). The benches pin it to a CPU.
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


def _on_term(signum: int, frame: object) -> None:
    global _stop
    _stop = True


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ring-size", type=int, default=8 << 20)
    parser.add_argument("--events", help="comma-separated event names (default: the schema's)")
    parser.add_argument("--bcap", help="also write the raw records to this bastion capture")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)

    from bastion.sensor.capture.bcap import BcapHeader, BcapWriter, Snapshot
    from bastion.sensor.probe import Probe
    from bastion.sensor.state import SensorState

    state = SensorState()
    state.seed_from_proc()
    events = args.events.split(",") if args.events else None
    probe = Probe(ring_size=args.ring_size, events=events)
    writer = None
    decoded = 0
    with probe:
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
    print(json.dumps({**stats, "decoded": decoded, "cpu_seconds": cpu, "wall_seconds": wall}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
