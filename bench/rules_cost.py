"""CPU time per event of the state update and of the rules, on a recording of live events.

    .venv/bin/python bench/rules_cost.py FILE.bcap [--events N] [--rounds R] [--rules FILE ...]

`bench/rules_throughput.py` replays the public .scap captures, whose events few rules look at;
this one replays a bastion capture (`bastion capture -w FILE.bcap` during the workload you care
about, e.g. the open+close flood) through the state and the rules engine (Falco's stable rules
and bastion's by default, every matching rule reported), one event at a time, and charges the
process CPU time of each step to it: `state` (`SensorState.apply`) and `rules`
(`RuleEngine.match`). CPU time, not wall time: the machine may be shared. Compare two trees by
running each one's copy of this file on the same capture, alternately.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests" / "helpers"))

from bastion.sensor.assemble import load_rules  # noqa: E402
from bastion.sensor.defaults import rules_files  # noqa: E402
from bastion.sensor.replay import open_replay  # noqa: E402
from bastion.sensor.state import SensorState  # noqa: E402
from bastion_testing.shared_data import shared_path  # noqa: E402


def one_round(path: str, count: int, rules: list[str]) -> tuple[float, float, int, int]:
    """(state µs/event, rules µs/event, events, alerts) over the first `count` events."""
    state = SensorState(runtime_roots=())
    events = list(itertools.islice(open_replay(path, state), count))
    engine = load_rules(rules, state, rule_matching="all").engine
    apply, match, clock = state.apply, engine.match, time.process_time
    in_state = in_rules = 0.0
    alerts = 0
    for event in events:
        began = clock()
        apply(event)
        applied = clock()
        alerts += len(match(event))
        in_state += applied - began
        in_rules += clock() - applied
    n = len(events) or 1
    return in_state / n * 1e6, in_rules / n * 1e6, len(events), alerts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bcap", help="a bastion capture (bastion capture -w FILE.bcap)")
    parser.add_argument("--events", type=int, default=100_000, help="events replayed")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rules", action="append", help="rules files (default: stable + ours)")
    args = parser.parse_args()
    rules = args.rules or [str(shared_path("falco", "falco_rules.yaml")), *rules_files(None)]
    rows = [one_round(args.bcap, args.events, rules) for _ in range(args.rounds)]
    state = statistics.median(r[0] for r in rows)
    cost = statistics.median(r[1] for r in rows)
    print(f"{rows[0][2]} events, {rows[0][3]} alerts per round, {args.rounds} rounds, CPU time")
    print(f"state {state:.2f} us/event, rules {cost:.2f} us/event (medians)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
