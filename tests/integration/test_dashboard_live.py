"""`bastion dashboard` on a terminal: a running engine container appears with its figures, an
alert the sensor raises about it appears in the latest alerts (and in its count), and `q` or
Ctrl-C quits with status 0; `--container NAME` shows that container and its alerts alone, and
an unknown name is refused before anything is drawn."""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

import pytest

from bastion_testing.engine import Bastion, watched_engine_rig
from bastion_testing.terminal import Terminal

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.privileged, pytest.mark.bpf]


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with watched_engine_rig(busybox_rootfs, prefix="bst-test-dash-") as b:
        yield b


def test_a_container_and_its_alert_appear_and_q_quits(bastion: Bastion) -> None:
    name = "dash-job"
    # the job waits for a file before misbehaving, so the alert comes while the view is up
    job = "while [ ! -e /tmp/go ]; do sleep 0.1; done; echo x > /usr/bin/dropper; sleep 300"
    cid = bastion.ok("run", "-d", "--watch", "--name", name, bastion.image, "sh", "-c", job)
    try:
        # the view is as wide as the terminal: not as the COLUMNS the test session exports
        argv = [
            "env",
            "-u",
            "COLUMNS",
            "-u",
            "LINES",
            *bastion.argv("dashboard", "--interval", "0.3"),
        ]
        with Terminal(argv, rows=40, cols=220) as t:
            t.expect(rb"dash-job")
            t.expect(rb"running")
            t.expect(rb"\d+\.\d%")  # a CPU % once two samples exist
            bastion.ok("exec", name, "touch", "/tmp/go")
            t.expect(rb"Write Below Binary Directory", timeout=30)
            t.expect(rb"file=/usr/bin/dropper")
            t.send(b"q")
            assert t.wait() == 0
        with Terminal(argv, rows=40, cols=220) as t:  # Ctrl-C quits as cleanly
            t.expect(rb"Write Below Binary Directory")
            t.send(b"\x03")
            assert t.wait() == 0
            t.expect(rb"\x1b\[\?25h")  # the cursor shown again: the terminal was put back
    finally:
        bastion.ok("rm", "-f", cid.strip())


def test_one_container_and_only_its_alerts(bastion: Bastion) -> None:
    ids = []
    try:
        for name in ("dash-one", "dash-other"):
            job = f"echo x > /usr/bin/dropper-{name}; sleep 300"
            ids.append(
                bastion.ok(
                    "run", "-d", "--watch", "--name", name, bastion.image, "sh", "-c", job
                ).strip()
            )
        # both alerts stored before the view starts: the other's is there to be left out
        db = os.path.join(bastion.root, "alerts.db")
        deadline = time.monotonic() + 30
        while True:
            listed = bastion("alerts", "--db", db, "-o", "json")
            outputs = [alert["output"] for alert in map(json.loads, listed.stdout.splitlines())]
            if all(any(f"dropper-{n}" in o for o in outputs) for n in ("dash-one", "dash-other")):
                break
            assert time.monotonic() < deadline, f"alerts not stored: {listed.stdout!r}"
            time.sleep(0.2)
        argv = ["env", "-u", "COLUMNS", "-u", "LINES"]
        argv += bastion.argv("dashboard", "--interval", "0.3", "--container", "dash-one")
        with Terminal(argv, rows=40, cols=220) as t:
            t.expect(rb"bastion: 1 containers, 1 alerts")
            t.expect(rb"file=/usr/bin/dropper-dash-one")
            t.send(b"q")
            assert t.wait() == 0
        assert b"dash-other" not in t.output
        refused = bastion("dashboard", "--container", "dash-nobody")
        assert refused.returncode != 0
        assert "dash-nobody" in refused.stderr
    finally:
        for cid in ids:
            bastion.ok("rm", "-f", cid)
