"""`bastion run --watch`: one command gives a watched container. The engine starts the sensor
service if none runs (waiting until its probe is attached), the container's very first syscall
is named, and the alerts reach `ps`, `inspect` and `bastion alerts` through the engine's alert
store."""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

import pytest

from bastion.sensor import service
from bastion_testing.engine import Bastion, stored_alerts, watched_engine_rig

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [pytest.mark.privileged, pytest.mark.bpf]


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with watched_engine_rig(busybox_rootfs, prefix="bst-test-watch-") as b:
        yield b


def _wait_for_alert(bastion: Bastion, name: str) -> dict[str, object]:
    deadline = time.monotonic() + 30  # the alert is awaited, not timed
    while True:
        found = stored_alerts(bastion, "--container", name)
        if found:
            return found[0]
        if time.monotonic() > deadline:
            log = os.path.join(os.environ["BASTION_SENSOR_DIR"], service.LOG)
            every = [(a["rule"], a["output_fields"]) for a in stored_alerts(bastion)]
            with open(log) as f:
                raise AssertionError(f"no alert for {name} in {every}; the log:\n{f.read()}")
        time.sleep(0.2)


def test_the_first_and_only_command_is_named(bastion: Bastion, tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.write_text("root:*:19000:0:99999:7:::\n")
    result = bastion(
        *("run", "--watch", "--rm", "--name", "bst-watch-first", "-v", f"{shadow}:/etc/shadow:ro"),
        *(bastion.image, "cat", "/etc/shadow"),
    )
    assert result.returncode == 0, result.stderr
    assert service.is_ready(os.environ["BASTION_SENSOR_DIR"])  # started by the run, still there
    alert = _wait_for_alert(bastion, "bst-watch-first")
    assert alert["rule"] == "Read Sensitive File in Container"
    fields = alert["output_fields"]
    assert isinstance(fields, dict)
    assert fields["container.name"] == "bst-watch-first"
    assert fields["proc.name"] == "cat" and fields["fd.name"] == "/etc/shadow"


def test_ps_and_inspect_show_the_alerts(bastion: Bastion, tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.write_text("root:*:19000:0:99999:7:::\n")
    cid = bastion.ok(
        *("run", "--watch", "-d", "--name", "bst-watch-ps", "-v", f"{shadow}:/etc/shadow:ro"),
        *(bastion.image, "sh", "-c", "cat /etc/shadow; exec sleep 60"),
    ).strip()
    try:
        _wait_for_alert(bastion, "bst-watch-ps")
        (row,) = [
            json.loads(line)
            for line in bastion.ok("ps", "--format", "json").splitlines()
            if json.loads(line)["Names"] == "bst-watch-ps"
        ]
        assert int(row["Alerts"]) >= 1
        doc = bastion.inspect(cid)
        alerts = doc["BastionAlerts"]
        assert isinstance(alerts, list) and alerts[0]["Rule"] == "Read Sensitive File in Container"
    finally:
        bastion.ok("rm", "-f", cid)
