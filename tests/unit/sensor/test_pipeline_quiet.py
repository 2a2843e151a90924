"""The pipeline hands the rules only the events of a type some loaded rule takes
(bastion/sensor/pipeline.py, `Pipeline.feed`): the others (a flood's closes) still update the
state, and no alert is lost for it."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterable
from pathlib import Path

from bastion.sensor.assemble import load_rules
from bastion.sensor.events.model import Direction, Event
from bastion.sensor.pipeline import Pipeline
from bastion.sensor.rules.engine import CompiledRule
from bastion.sensor.state import SensorState
from bastion.sensor.state.model import Thread

RULE = """
- rule: read of a secret
  desc: an open of /etc/shadow
  condition: evt.type = openat and fd.name = /etc/shadow
  output: "secret read (%fd.name)"
  priority: WARNING
"""


def _event(kind: str, params: dict[str, object], res: int) -> Event:
    return Event(1, 10, 0, 4242, 4242, kind, Direction.EXIT, "file", params, {}, res, 0)


def _pipeline(tmp_path: Path) -> tuple[Pipeline, SensorState]:
    """RULE's pipeline over a state that knows thread 4242."""
    path = tmp_path / "rules.yaml"
    path.write_text(RULE)
    state = SensorState(runtime_roots=(), proc_root="/nonexistent", host_root="/nonexistent")
    state.live = False
    state.add_thread(Thread(tid=4242, pid=4242, cwd="/"))
    return Pipeline(engine=load_rules([str(path)], state).engine, state=state, hostname="t"), state


def test_only_the_types_a_rule_takes_reach_the_rules(tmp_path: Path) -> None:
    pipeline, state = _pipeline(tmp_path)
    matched: list[str] = []
    match = pipeline._match

    def recording(event: Event) -> Iterable[CompiledRule]:
        matched.append(event.type)
        return match(event)

    pipeline._match = recording
    shadow = {"fd": 3, "dirfd": -100, "name": "/etc/shadow", "flags": 1, "mode": 0}
    alerts = pipeline.feed(
        [
            _event("openat", dict(shadow), 3),
            _event("close", {"fd": 3}, 0),
            _event("openat", dict(shadow, name="/etc/hosts"), 3),
            _event("close", {"fd": 3}, 0),
        ]
    )
    assert [a.rule for a in alerts] == ["read of a secret"]
    assert matched == ["openat", "openat"]  # the closes were not dispatched
    assert state.threads.get(4242).fds == {}  # type: ignore[union-attr]  # both closes applied
    assert pipeline.stats.events == 4


def test_the_pipeline_keeps_no_batch_alerts_once_it_returns_them(tmp_path: Path) -> None:
    """A sink may hold a batch's alerts as long as it likes; the pipeline itself holds none
    of them after `feed` returns (nor while waiting for the next batch)."""
    pipeline, _ = _pipeline(tmp_path)
    shadow = {"fd": 3, "dirfd": -100, "name": "/etc/shadow", "flags": 1, "mode": 0}
    alerts = pipeline.feed([_event("openat", shadow, 3)])
    assert [a.rule for a in alerts] == ["read of a secret"]
    held = [r for r in gc.get_referrers(alerts) if r is not sys._getframe()]
    assert held == []
