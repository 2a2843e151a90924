"""Where one `docker run --rm IMAGE true` through bastion's socket spends its time: the
server's trace (`BASTION_API_TRACE`, src/bastion/api/trace.py) cut into the trials a bench
timed, each trial's steps as gaps between consecutive events, medians over the trials.

bench/api_run.py `--trace` uses it; it needs the trials' CLOCK_MONOTONIC windows (`Windows`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from bench.timing import Sample


class Event(NamedTuple):
    ns: int
    kind: str  # in, out, mark
    what: str  # "POST /v1.41/containers/ID/start" (+ " STATUS" for out), or a mark's step


def read_events(path: str) -> list[Event]:
    events = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            ns, kind, _container, what = line.rstrip("\n").split(" ", 3)
            events.append(Event(int(ns), kind, what))
    return events


@dataclass
class Windows:
    """The CLOCK_MONOTONIC start and end of each trial timed through `timed`."""

    spans: list[tuple[int, int]] = field(default_factory=list)

    def timed(self, trial: Callable[[], Sample]) -> Callable[[], Sample]:
        def run() -> Sample:
            start = time.monotonic_ns()
            sample = trial()
            self.spans.append((start, time.monotonic_ns()))
            return sample

        return run


def _request(kind: str, method: str | None, endpoint: str) -> Callable[[Event], bool]:
    """`method` None: any (the docker CLI pings with HEAD, falls back to GET)."""

    def match(event: Event) -> bool:
        if event.kind != kind:
            return False
        verb, path = event.what.split(" ", 2)[:2]
        return method in (None, verb) and path.endswith(endpoint)

    return match


def _mark(step: str) -> Callable[[Event], bool]:
    return lambda event: event.kind == "mark" and event.what == step


#: The events of one `docker run --rm` (API 1.41) in the order they happen, each step named by
#: what happens between the event before it and itself. The docker CLI attaches and sends
#: `wait?condition=removed` (its headers come at once) before it starts the container.
STEPS: list[tuple[str, Callable[[Event], bool]]] = [
    ("docker CLI start-up, its first request", _request("in", None, "/_ping")),
    ("_ping, then the CLI sends create", _request("in", "POST", "/containers/create")),
    ("create (engine.create)", _request("out", "POST", "/containers/create")),
    ("attach (101) and wait's headers", _request("in", "POST", "/start")),
    ("start: overlay, conmon, runtime create", _mark("monitor-made")),
    ("start: attach connect, runtime start", _mark("process-started")),
    ("start answered", _request("out", "POST", "/start")),
    ("the process runs and ends, exit seen", _mark("exit-seen")),
    ("the attach stream ends", _mark("readers-done")),
    ("removal (engine.remove)", _mark("removed")),
    ("wait answered", _request("out", "POST", "/wait")),
]
END = "docker CLI reads the answers, exits"


def breakdown(events: list[Event], spans: list[tuple[int, int]]) -> list[tuple[str, float, int]]:
    """(step, median ms, trials that had it) for each step of `STEPS`, then the CLI's end."""
    gaps: dict[str, list[float]] = {name: [] for name, _ in STEPS}
    gaps[END] = []
    for start, end in spans:
        inside = [e for e in events if start <= e.ns <= end]
        previous = start
        for name, match in STEPS:
            hit = next((e for e in inside if match(e) and e.ns >= previous), None)
            if hit is None:
                break
            gaps[name].append((hit.ns - previous) / 1e6)
            previous = hit.ns
        else:
            gaps[END].append((end - previous) / 1e6)
    return [(name, statistics.median(ms) if ms else 0.0, len(ms)) for name, ms in gaps.items()]


def print_breakdown(path: str, spans: list[tuple[int, int]]) -> None:
    rows = breakdown(read_events(path), spans)
    print(f"\n## where the time goes: docker run --rm through bastion, {len(spans)} trials")
    print(f"{'step':<44} {'median':>9}  trials")
    for name, ms, count in rows:
        print(f"{name:<44} {ms:>6.1f} ms  {count}")
    print(f"{'sum of the medians':<44} {sum(ms for _, ms, _ in rows):>6.1f} ms")
