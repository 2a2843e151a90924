"""Falco's own stable rules, unmodified, on live events: a rule fires with Falco's output.

`cat /etc/shadow` on the host is what Falco's "Read sensitive file untrusted" rule is for; the
alert must carry the fields Falco's output names (file, process, parent, command, user), none
of them `<NA>`. A read of /etc/hostname by the same program is its benign neighbour.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from bastion.sensor.assemble import load_rules
from bastion.sensor.outputs.alert import Alert
from bastion.sensor.pipeline import Pipeline
from bastion.sensor.probe import Probe
from bastion.sensor.state import SensorState
from bastion_testing import shared_data

pytestmark = [
    pytest.mark.privileged,
    pytest.mark.bpf,
    shared_data.needs(*shared_data.FALCO_RULES),
]

STABLE = shared_data.shared_path(*shared_data.FALCO_RULES)
RULE = "Read sensitive file untrusted"


def test_falco_stable_rule_fires_on_a_live_shadow_read() -> None:
    state = SensorState(runtime_roots=())
    state.seed_from_proc()
    rules = load_rules([str(STABLE)], state, rule_matching="all")
    pipeline = Pipeline(engine=rules.engine, state=state, hostname="test")
    alerts: list[Alert] = []
    with Probe(events=sorted(rules.engine.event_types or ())) as probe:
        reader = subprocess.run(["cat", "/etc/shadow"], capture_output=True, check=True)
        benign = subprocess.run(["cat", "/etc/hostname"], capture_output=True, check=True)
        assert reader.returncode == benign.returncode == 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(a.rule == RULE for a in alerts):
            probe.poll(0.05)
            alerts += pipeline.feed(probe.read_events())
        alerts += pipeline.feed(probe.read_events())
    hits = [a for a in alerts if a.rule == RULE]
    assert len(hits) == 1, [a.rule for a in alerts]
    fields = hits[0].output_fields
    assert fields["fd.name"] == "/etc/shadow"
    assert fields["proc.name"] == "cat"
    assert fields["proc.cmdline"] == "cat /etc/shadow"
    assert fields["user.name"] == "root"
    assert fields["proc.pname"]  # this test's python, by name
    assert hits[0].priority == "Warning"
    assert "<NA>" not in hits[0].output.split("gparent=")[0]
    assert not any("/etc/hostname" in a.output for a in alerts)
