"""`Pipeline.feed`'s loop in C (probe/accel.c `feed_loop`) against the Python loop, the
definition: the same alerts in the same order, the same rule counts, the same state, on every
event of Falco's captures and on events the compiled loop must hand back to Python."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.sensor.assemble import load_rules
from bastion.sensor.events.model import Direction, Event
from bastion.sensor.pipeline import Pipeline
from bastion.sensor.probe import accel
from bastion.sensor.replay import open_replay
from bastion.sensor.state import SensorState
from bastion.sensor.state.model import Thread
from bastion_testing import falco_verdicts, shared_data

CAPTURES = ("falco", "captures")


@pytest.fixture(autouse=True)
def built() -> None:
    if accel.load() is None:
        pytest.skip("the sensor's compiled extension is not built (scripts/setup builds it)")


def pipeline_for(
    files: list[str], compiled: bool, matching: str = "all", containers_only: bool = False
) -> Pipeline:
    state = SensorState(runtime_roots=(), proc_root="/nonexistent", host_root="/nonexistent")
    state.live = False
    state.add_thread(Thread(tid=4242, pid=4242, comm="cat", cwd="/"))
    state.add_thread(Thread(tid=4343, pid=4343, comm="cat", cwd="/", container_id="c0ffee"))
    pipeline = Pipeline(
        engine=load_rules(files, state, rule_matching=matching).engine,
        state=state,
        hostname="t",
        containers_only=containers_only,
    )
    if not compiled:
        pipeline._loop = None
    else:
        assert pipeline._loop is not None
    return pipeline


def fed(pipeline: Pipeline, capture: Path) -> tuple[list[tuple[str, str]], dict[str, int], int]:
    alerts = []
    for batch in batches(open_replay(str(capture), pipeline.state), 97):  # type: ignore[arg-type]
        alerts += [(a.rule, a.output) for a in pipeline.feed(batch)]
    return alerts, dict(pipeline.engine.matches), pipeline.stats.events


def batches(events: object, size: int) -> list[list[Event]]:
    out: list[list[Event]] = [[]]
    for event in events:  # type: ignore[attr-defined]
        if len(out[-1]) == size:
            out.append([])
        out[-1].append(event)
    return out


@shared_data.needs(*CAPTURES)
@shared_data.needs(*shared_data.FALCO_RULES)
@pytest.mark.parametrize(
    ("matching", "containers"), [("all", False), ("first", False), ("all", True)]
)
def test_every_capture_feeds_alike_through_both_loops(
    matching: str, containers: bool, tmp_path: Path
) -> None:
    files = falco_verdicts.with_every_macro(tmp_path)
    total = 0
    for capture in sorted(shared_data.shared_path(*CAPTURES).glob("*.scap")):
        compiled = fed(pipeline_for(files, True, matching, containers), capture)
        python = fed(pipeline_for(files, False, matching, containers), capture)
        assert compiled == python, capture.name
        total += len(compiled[0])
    assert total > (100 if containers else 1000)  # the comparison is not of empty lists


RULE = """
- rule: shadow
  desc: d
  condition: evt.type = openat and evt.dir = < and fd.name = /etc/shadow
  output: "shadow %proc.name"
  priority: WARNING
- rule: enter of an open
  desc: d
  condition: evt.type = openat and evt.dir = >
  output: "about to open"
  priority: NOTICE
"""


def events_of(direction_exit: str, direction_enter: str) -> list[Event]:
    shadow: dict[str, object] = {"fd": 3, "dirfd": -100, "name": "/etc/shadow", "flags": 1}
    enter: dict[str, object] = {"dirfd": -100, "name": "/etc/shadow", "flags": 1, "mode": 0}
    return [
        Event(1, 10, 0, 4242, 4242, "openat", direction_enter, "file", enter, {}, None, 0),
        Event(2, 11, 0, 4242, 4242, "openat", direction_exit, "file", shadow, {}, 3, 0),
        Event(3, 12, 0, 4242, 4242, "close", direction_exit, "file", {"fd": 3}, {}, 0, 0),
        Event(4, 13, 0, 4242, 4242, "openat", direction_exit, "file", dict(shadow), {}, 3, 0),
    ]


class Text(str):
    """A str of its own (CPython shares its one-character strings)."""


@pytest.mark.parametrize("copied", [False, True], ids=["interned", "equal-strings"])
def test_directions_pick_the_same_matchers(copied: bool, tmp_path: Path) -> None:
    """Directions that are the very Direction objects, or equal strings of their own (the
    compiled loop compares those by value)."""
    path = tmp_path / "rules.yaml"
    path.write_text(RULE)
    exit_dir, enter_dir = Direction.EXIT, Direction.ENTER
    if copied:
        exit_dir, enter_dir = Text("<"), Text(">")
    results = []
    for compiled in (True, False):
        pipeline = pipeline_for([str(path)], compiled)
        alerts = pipeline.feed(events_of(exit_dir, enter_dir))
        alerts += pipeline.feed(events_of(exit_dir, enter_dir))  # the matchers made by now
        results.append([(a.rule, a.output) for a in alerts])
    assert results[0] == results[1]
    assert [rule for rule, _ in results[0]] == ["enter of an open", "shadow", "shadow"] * 2


def test_an_error_in_a_matcher_stops_the_batch_as_in_python(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULE)
    for compiled in (True, False):
        pipeline = pipeline_for([str(path)], compiled)
        pipeline.feed(events_of(Direction.EXIT, Direction.ENTER))  # matchers made

        def broken(event: object) -> None:
            raise RuntimeError("a matcher failed")

        exit_table = pipeline.engine.tables()[0]
        exit_table["openat"] = broken
        with pytest.raises(RuntimeError, match="a matcher failed"):
            pipeline.feed(events_of(Direction.EXIT, Direction.ENTER))


def test_containers_only_leaves_host_threads_out_in_both_loops(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULE)
    for compiled in (True, False):
        pipeline = pipeline_for([str(path)], compiled, containers_only=True)
        host = events_of(Direction.EXIT, Direction.ENTER)
        contained = [
            Event(
                e.num + 100,
                e.ts,
                0,
                4343,
                4343,
                e.type,
                e.dir,
                e.category,
                dict(e.params),
                {},
                e.res,
                0,
            )
            for e in host
        ]
        alerts = pipeline.feed(host + contained) + pipeline.feed(host + contained)
        assert [a.rule for a in alerts] == ["enter of an open", "shadow", "shadow"] * 2
        assert all(a.event_num > 100 for a in alerts)  # the container thread's events only
