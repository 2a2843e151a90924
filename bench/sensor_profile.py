"""Where the sensor's Python time goes, per stage, on one flood batch (docs/watch.md's table).

    .venv/bin/python bench/sensor_profile.py [--pairs N] [--rounds R] [--rules FILE ...]

Live first: the probe (default events, a 64 MiB ring nobody reads meanwhile) records the C
workload's N openat+close pairs of a small file on CPU 0; the ring is then copied out record
by record (the reader's `read_raw`, batches of 4096): ns per record of the ring copy, once
with the ring's Python loops and once with the compiled ones (probe/accel.c). Then,
with no kernel involved, on those records and in their batches, each stage alone, CPU time
(process_time) per event, R rounds with the median:

- decode: the pure-Python decoder and the compiled one (probe/accel.c), alternating;
- state: `SensorState.apply` in Python and the compiled twin a state's `apply` is where the
  extension is built (state/fast.py), alternating; the thread's cgroup settled as the host's,
  as after 2 s live;
- rules: `RuleEngine.match` by event type (the type's candidate rules, from the event-type
  index; a type with none pays only the dispatch), with Falco's stable rules and bastion's
  unless `--rules` says otherwise, through the generated matchers (rules/codegen.py) and
  through the closures (rules/compiler.py, `BASTION_SENSOR_RULES_CODEGEN=0`), and through
  the generated matchers behind the open verdicts (sensor/open_verdicts.py), rotating;
- output: rendering one alert (a candidate rule's output on an event of its type), per alert.

The load average is printed with the figures: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import host
from bench.sensor_common import (
    REPO,
    BenchError,
    accel_switched,
    build,
    loadavg,
    median,
    require_root_and_cpus,
    run_workload,
)

DEFAULT_RULES = (
    os.path.join(os.path.dirname(REPO), "shared", "falco", "falco_rules.yaml"),
    os.path.join(REPO, "src", "bastion", "sensor", "data", "bastion_rules.yaml"),
)


def ring_records(pairs: int, compiled: bool) -> tuple[list[list[bytes]], float, int]:
    """The flood's records as the reader copies them out (its batches), the ns per record
    that copy cost (with the compiled ring loops or the Python ones), and the probe's boot
    epoch."""
    sys.path.insert(0, os.path.join(REPO, "src"))
    from bastion.sensor.probe import Probe

    # the rings pick their loops when made
    with accel_switched(compiled), build() as built, Probe(ring_size=64 << 20) as probe:
        if probe.ring.compiled != compiled:
            raise BenchError("the ring's loops are not the ones asked for: run scripts/setup")
        run_workload([built.workload, "openclose", str(pairs), built.target])
        batches: list[list[bytes]] = []
        t0 = time.process_time()
        while batch := probe.read_raw():
            batches.append(batch)
        spent = time.process_time() - t0
        if probe.statistics().dropped_ring_full:
            raise BenchError(f"the ring dropped records: use fewer --pairs than {pairs}")
        epoch = probe.decoder.boot_epoch_ns
    count = sum(map(len, batches))
    return batches, spent / max(count, 1) * 1e9, epoch


def cpu_ns(run: Callable[[], int], rounds: int) -> float:
    """Median CPU ns per item of `run` (which returns how many items it did)."""
    figures = []
    for _ in range(rounds):
        t0 = time.process_time()
        count = run()
        figures.append((time.process_time() - t0) / max(count, 1) * 1e9)
    return median(figures)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=150_000, help="openat+close pairs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rules", action="append", help="rules file(s) (default: Falco's + ours)")
    args = parser.parse_args()
    started = host.timestamp()
    try:
        require_root_and_cpus()
        host.catch_signals()
        print(f"load average at start: {loadavg()}")
        ring_ns = {}
        for compiled in (False, True):  # the compiled run's records go on to the next stages
            batches, ring_ns[compiled], epoch = ring_records(args.pairs, compiled)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    from bastion.sensor.gc_policy import event_loop_gc

    with event_loop_gc():  # the collector as the live loop has it (sensor/gc_policy.py)
        rows, records, counts = stages(batches, ring_ns, epoch, args)
    print(f"\n{records} records ({', '.join(f'{t} {c}' for t, c in counts.most_common(4))})")
    print(f"{'stage':<48}{'ns':>8}")
    for name, ns, unit in rows:
        print(f"{name:<48}{ns:>8.0f}  {unit}")
    print(f"load average at end: {loadavg()}")
    path = host.save_results(
        "sensor_profile",
        started,
        {"args": vars(args), "records": records, "rows": [list(r) for r in rows]},
    )
    print(f"results: {path}")
    return 0


def stages(
    batches: list[list[bytes]], ring_ns: dict[bool, float], epoch: int, args: argparse.Namespace
) -> tuple[list[tuple[str, float, str]], int, Counter[str]]:
    """Each stage's ns per item, on the ring's records: (rows, records, event types)."""
    from bastion.sensor.assemble import load_rules, new_state
    from bastion.sensor.probe.decode import Decoder

    records = sum(map(len, batches))
    rows: list[tuple[str, float, str]] = [
        ("ring copy (read_raw), python", ring_ns[False], "per record"),
        ("ring copy (read_raw), compiled", ring_ns[True], "per record"),
    ]
    decode_ns: dict[str, list[float]] = {"python": [], "compiled": []}
    for round_ in range(args.rounds):  # alternating, so a slow spell hits both alike
        order = ("python", "compiled") if round_ % 2 == 0 else ("compiled", "python")
        for name in order:
            decoder = Decoder(boot_epoch=epoch, accel=name == "compiled")

            def decode_all(decode: Callable[[list[bytes]], list[Any]] = decoder.decode) -> int:
                return sum(len(decode(b)) for b in batches)

            decode_ns[name].append(cpu_ns(decode_all, 1))
    for name, figures in decode_ns.items():
        rows.append((f"decode, {name}", median(figures), "per event"))

    from bastion.sensor.state import SensorState

    state_ns: dict[str, list[float]] = {"python": [], "compiled": []}
    for round_ in range(args.rounds):  # each round a fresh state and fresh events, alternating
        order = ("python", "compiled") if round_ % 2 == 0 else ("compiled", "python")
        for name in order:
            events = [Decoder(boot_epoch=epoch).decode(b) for b in batches]
            state = new_state(seed=True)
            for event in events[0]:  # the flood's cgroup is the host's, as 2 s into a flood
                state._cgroup_containers.setdefault(event.cgroup_id, "")
            # the instance's apply is the compiled twin where built (state/fast.py); the
            # class's method is the Python definition
            apply = state.apply if name == "compiled" else SensorState.apply.__get__(state)

            def apply_all(
                apply: Callable[[Any], None] = apply, events: list[list[Any]] = events
            ) -> int:
                for batch in events:
                    for event in batch:
                        apply(event)
                return records

            state_ns[name].append(cpu_ns(apply_all, 1))
    for name, figures in state_ns.items():
        rows.append((f"state update (apply), {name}", median(figures), "per event"))

    rules = load_rules(list(args.rules or DEFAULT_RULES), state)
    engine = rules.engine
    match = engine.match
    by_type: dict[str, list[Any]] = defaultdict(list)
    for batch in events:
        for event in batch:
            by_type[event.type].append(event)
    counts = Counter({t: len(v) for t, v in by_type.items()})
    flood = [event for batch in events for event in batch]
    from bastion.sensor.open_verdicts import OpenVerdicts

    verdicts = OpenVerdicts(engine).wrap
    # the rule paths: (generated matchers, open verdicts in front of them)
    paths = {
        "generated, open verdicts": (True, True),
        "generated": (True, False),
        "closures": (False, False),
    }
    for kind, _ in [*counts.most_common(4), ("", 0)]:
        same = by_type[kind] if kind else flood
        n = len(engine.candidates(kind)) if kind else 0
        paths_ns: dict[str, list[float]] = {name: [] for name in paths}
        names = list(paths)
        for round_ in range(args.rounds):  # the rule paths rotating
            for name in names[round_ % 3 :] + names[: round_ % 3]:
                generate, with_verdicts = paths[name]
                engine.wrap_matchers(verdicts if with_verdicts else None)
                engine.use_generated(generate)
                for event in same[:2]:  # the path's matcher made, a repeated key judged
                    match(event)

                def match_all(same: list[Any] = same) -> int:
                    for event in same:
                        match(event)
                    return len(same)

                paths_ns[name].append(cpu_ns(match_all, 1))
        what = "dispatch only" if n == 0 else f"{n} candidate rules"
        label = f"rules, {kind} ({what})" if kind else "rules, the whole flood"
        for name, figures in paths_ns.items():
            rows.append((label, median(figures), f"per event, {name}"))
    engine.wrap_matchers(None)
    engine.use_generated(True)
    kind = counts.most_common(1)[0][0]
    renderers = [r.output for r in rules.engine.rules if r.output is not None]
    sample = by_type["openat"][:2000] or by_type[kind][:2000]

    def render_all() -> int:
        for render in renderers[:20]:
            for event in sample:
                render(event)  # type: ignore[operator]
        return len(renderers[:20]) * len(sample)

    rows.append(("output (render one alert)", cpu_ns(render_all, args.rounds), "per alert"))
    return rows, records, counts


if __name__ == "__main__":
    host.run_main(main)
