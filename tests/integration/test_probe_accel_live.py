"""The compiled decoder (probe/accel.c) on a live workload: the records the probe wrote for a
real process tree decode to the same events with the accelerator on and off, and the same
state and rules (Falco's stable rules and bastion's) raise the same alerts from them."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bastion.sensor.assemble import load_rules
from bastion.sensor.events.model import Event
from bastion.sensor.outputs.alert import Alert
from bastion.sensor.pipeline import Pipeline
from bastion.sensor.probe import Probe
from bastion.sensor.probe.accel import build_accel
from bastion.sensor.probe.decode import Decoder
from bastion.sensor.state import SensorState
from bastion_testing.shared_data import FALCO_RULES, require

pytestmark = [pytest.mark.privileged, pytest.mark.bpf]

BASTION_RULES = str(
    Path(__file__).resolve().parents[2] / "src/bastion/sensor/data/bastion_rules.yaml"
)
# What the workload does: reads a sensitive file itself and through cat, links to it, makes a
# file setuid, runs a shell, connects to a loopback listener, then exits.
WORKLOAD = """
import os, socket, subprocess, sys
tmp = sys.argv[1]
open("/etc/shadow", "rb").read()
os.symlink("/etc/shadow", os.path.join(tmp, "bst-test-link"))
path = os.path.join(tmp, "bst-test-suid")
open(path, "w").close()
os.chmod(path, 0o4755)
subprocess.run(["sh", "-c", "cat /etc/shadow > /dev/null; true"], check=True)
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(1)
client = socket.create_connection(server.getsockname())
peer, _ = server.accept()
for s in (peer, client, server):
    s.close()
"""


@pytest.fixture(scope="module")
def probe() -> Iterator[Probe]:
    build_accel()  # as scripts/setup does
    with Probe() as p:
        yield p


def fields(event: Event) -> tuple[object, ...]:
    return tuple(getattr(event, name) for name in Event.__slots__)


def records_of_run(
    probe: Probe, argv: list[str], deadline_s: float = 30.0
) -> tuple[list[bytes], int]:
    """Every raw record read while `argv` ran, up to its main thread's procexit; its pid."""
    while probe.read_raw():  # what came before is not the workload's
        pass
    child = subprocess.Popen(argv)
    assert child.wait(timeout=60) == 0
    watch = Decoder(accel=False)
    records: list[bytes] = []
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        probe.poll(0.05)
        raw = probe.read_raw()
        records.extend(raw)
        if any(e.type == "procexit" and e.tid == child.pid for e in watch.decode(raw)):
            return records, child.pid
    raise AssertionError(f"no procexit of {child.pid} within {deadline_s}s")


def family(events: list[Event], root: int) -> set[int]:
    """`root` and the processes it (and they) cloned, from the events' clone records."""
    pids = {root}
    for event in events:
        child = event.params.get("pid")
        if event.type == "clone" and event.res == 0 and isinstance(child, int):
            parent = event.params.get("ptid")
            if parent in pids or event.pid in pids:
                pids.add(child)
    return pids


def alerts_of(events: list[Event], pids: set[int]) -> list[Alert]:
    state = SensorState()
    state.seed_from_proc()
    files = [str(require(*FALCO_RULES)), BASTION_RULES]
    rules = load_rules(files, state, rule_matching="all")
    pipeline = Pipeline(engine=rules.engine, state=state, hostname="bst-test")
    return pipeline.feed(e for e in events if e.pid in pids)


def test_live_records_decode_and_alert_alike(probe: Probe, tmp_path: Path) -> None:
    records, pid = records_of_run(probe, [sys.executable, "-S", "-c", WORKLOAD, str(tmp_path)])
    epoch = probe.decoder.boot_epoch_ns
    python = Decoder(boot_epoch=epoch, accel=False).decode(records)
    compiled_decoder = Decoder(boot_epoch=epoch, accel=True)
    assert compiled_decoder.accelerated
    compiled = compiled_decoder.decode(records)
    assert [fields(e) for e in compiled] == [fields(e) for e in python]

    pids = family(python, pid)
    assert len(pids) >= 3, pids  # python, sh, cat
    slow, fast = alerts_of(python, pids), alerts_of(compiled, pids)
    assert [dataclasses.astuple(a) for a in fast] == [dataclasses.astuple(a) for a in slow]
    fired = {a.rule for a in slow}
    # the workload's own acts, so an alert lost on either path would show
    assert {"Read sensitive file untrusted", "Create Symlink Over Sensitive Files"} <= fired, fired
    assert os.path.islink(tmp_path / "bst-test-link")
