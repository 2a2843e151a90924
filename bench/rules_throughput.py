"""Events per second through Falco's stable ruleset, with the real state updates, on one core.

The event stream is every event of the 16 public .scap captures in the shared reference data
(`falco/captures` under `../shared` beside the clone or $BASTION_SHARED; see
tests/helpers/bastion_testing/shared_data.py), decoded once up front (decoding is measured
separately: it is the source's cost, not the engine's). Each round replays the stream into a fresh
state (seeded from each capture's own process lists, as `bastion watch --replay` does) and a
pipeline running falco_rules.yaml with bastion's field table; the figure is events / (seconds in
`Pipeline.feed`). The process is pinned to one CPU. For comparison the same stream runs with no
rules (state updates alone), with bastion's default rules, and with Falco's through the
closures of rules/compiler.py instead of the generated matchers of rules/codegen.py (each
engine's matchers are made before the clock starts, as a running sensor has them). Anchor
(issue [rules]): Falco's single-threaded engine handled about 250k-320k syscalls/s on 1-2 CPUs
in its 2021 test; target >= 300k events/s.

Usage: .venv/bin/python bench/rules_throughput.py [--rounds 5] [--repeat 10] [--cpu 0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests" / "helpers"))

from bastion.sensor.assemble import load_rules  # noqa: E402
from bastion.sensor.events.model import Event  # noqa: E402
from bastion.sensor.pipeline import Pipeline  # noqa: E402
from bastion.sensor.replay import open_replay  # noqa: E402
from bastion.sensor.state import SensorState  # noqa: E402
from bastion_testing.shared_data import shared_path  # noqa: E402

SHARED = shared_path("falco")
CAPTURES = sorted((SHARED / "captures").glob("*.scap"))
STABLE = SHARED / "falco_rules.yaml"


def decode_all() -> tuple[list[tuple[Path, list[Event]]], float, int]:
    """Every capture's events, decoded once; and the decode rate (events/s)."""
    streams: list[tuple[Path, list[Event]]] = []
    total = 0
    began = time.perf_counter()
    for path in CAPTURES:
        try:
            events = list(open_replay(str(path), SensorState(runtime_roots=())))
        except Exception as exc:  # a capture our reader refuses is reported, not fatal
            print(f"  skipped {path.name}: {exc}", file=sys.stderr)
            continue
        streams.append((path, events))
        total += len(events)
    elapsed = time.perf_counter() - began
    return streams, total / elapsed if elapsed else 0.0, total


def fresh(event: Event) -> Event:
    """A copy without the state's annotations, so every round starts from the decoder's view."""
    copy = Event(
        num=event.num,
        ts=event.ts,
        cpu=event.cpu,
        tid=event.tid,
        pid=0,
        type=event.type,
        dir=event.dir,
        category=event.category,
        params=event.params,
        specs=event.specs,
        res=event.res,
        cgroup_id=event.cgroup_id,
    )
    return copy


def one_round(
    streams: list[tuple[Path, list[Event]]],
    rules: list[str] | None,
    repeat: int,
    generated: bool = True,
) -> tuple[float, int, int]:
    """(events/s, events, alerts) for one pass over every stream, `repeat` times each, the
    rules through generated matchers (rules/codegen.py) or the closures (rules/compiler.py).
    The matchers are made before the clock starts, as a running sensor has them."""
    elapsed = 0.0
    events = alerts = 0
    for path, stream in streams:
        for _ in range(repeat):
            state = SensorState(runtime_roots=())
            # seed from the capture's process lists (not timed), then time the event path
            for _ in open_replay(str(path), state):
                break
            loaded = load_rules(rules, state, rule_matching="all") if rules is not None else None
            batch = [fresh(e) for e in stream]
            if loaded is not None:
                loaded.engine.use_generated(generated)
                for kind, direction in {(e.type, e.dir) for e in batch}:
                    loaded.engine.matcher(kind, direction)
            if loaded is None:
                apply = state.apply
                began = time.perf_counter()
                for event in batch:
                    apply(event)
                elapsed += time.perf_counter() - began
            else:
                pipeline = Pipeline(engine=loaded.engine, state=state, hostname="bench")
                began = time.perf_counter()
                alerts += len(pipeline.feed(batch))
                elapsed += time.perf_counter() - began
            events += len(batch)
    return events / elapsed, events, alerts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=10, help="replays of each capture per round")
    parser.add_argument("--cpu", type=int, default=0, help="the CPU to pin to")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    streams, decode_rate, total = decode_all()
    print(f"stream: {total} events from {len(streams)} captures; pinned to CPU {args.cpu}")
    print(f"decode (.scap -> Event, with seeding): {decode_rate:,.0f} events/s")
    configs: dict[str, tuple[list[str] | None, bool]] = {
        "state only (no rules)": (None, True),
        "bastion default rules": ([], True),
        "Falco stable ruleset": ([str(STABLE)], True),
        "Falco stable, closures": ([str(STABLE)], False),
    }
    results: dict[str, list[float]] = {name: [] for name in configs}
    alerts: dict[str, int] = {}
    for _ in range(args.rounds):
        for name, (rules, generated) in configs.items():  # alternated, round by round
            rate, _events, count = one_round(streams, rules, args.repeat, generated)
            results[name].append(rate)
            alerts[name] = count
    print(f"\n{'configuration':<26} {'median ev/s':>12} {'min':>10} {'max':>10}  alerts/round")
    for name, rates in results.items():
        print(
            f"{name:<26} {statistics.median(rates):>12,.0f} {min(rates):>10,.0f} "
            f"{max(rates):>10,.0f}  {alerts[name]}"
        )
    stable = statistics.median(results["Falco stable ruleset"])
    print(
        f"\nFalco stable ruleset: {stable:,.0f} events/s = {stable / 300_000:.2f}x the 300k target"
    )
    closures = statistics.median(results["Falco stable, closures"])
    print(f"generated matchers / closures: {stable / closures:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
