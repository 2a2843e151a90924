"""`bastion sensor`, the service: started detached, one per service directory, watching every
bastion container (not the host unless asked), storing alerts where `bastion alerts` reads them,
and naming containers that were created before it started (from the state directories).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bastion.sensor import service

if TYPE_CHECKING:
    from collections.abc import Iterator

    from bastion_testing.plugin import BundleFactory
    from bastion_testing.runc import Runc

pytestmark = [pytest.mark.privileged, pytest.mark.bpf]

BASTION = os.path.join(os.path.dirname(sys.executable), "bastion")

# Only openat events are needed: the load stays small while the whole host is read.
EVENTS = "openat,open,openat2,execve,clone,procexit"


class Sensor:
    def __init__(self, runtime_root: str, workdir: Path) -> None:
        self.runtime_root = runtime_root
        self.dir = str(workdir / "service")
        self.db = str(workdir / "alerts.db")

    def argv(self, *args: str) -> list[str]:
        return [
            *(BASTION, "--root", self.runtime_root, "sensor", "--service-dir", self.dir),
            *("--alerts-db", self.db, "--no-stdout", "--events", EVENTS, *args),
        ]

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=90)

    def alerts(self, *args: str) -> list[dict[str, object]]:
        result = subprocess.run(
            [BASTION, "alerts", "--db", self.db, "-o", "json", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture
def sensor(runtime_root: str, tmp_path: Path) -> Iterator[Sensor]:
    s = Sensor(runtime_root, tmp_path)
    try:
        yield s
    finally:
        pid = service.running(s.dir)
        if pid:
            s("--stop")
        assert service.running(s.dir) is None


def _shadow_bundle(bundle_factory: BundleFactory, script: str) -> str:
    bundle = bundle_factory(args=["sh", "-c", script], readonly=False)
    Path(bundle, "rootfs/etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    return bundle


def _wait_for(check: object, sensor: Sensor, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout  # the effect is awaited, not timed
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            with open(os.path.join(sensor.dir, service.LOG)) as f:
                raise AssertionError(f"timed out; the sensor's log:\n{f.read()}")
        time.sleep(0.1)


def test_one_detached_sensor_watches_containers_not_the_host(
    sensor: Sensor, runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    started = sensor("--detach")
    assert started.returncode == 0, started.stderr
    pid = int(started.stdout)
    assert service.running(sensor.dir) == pid and service.is_ready(sensor.dir)
    assert sensor("--status").stdout.startswith(f"running (pid {pid}, ready)")
    # a second one refuses, and says which one runs
    second = sensor()
    assert second.returncode == 1 and f"a sensor already runs (pid {pid})" in second.stderr
    # the host reads /etc/shadow: not watched (no --host)
    subprocess.run(["cat", "/etc/shadow"], capture_output=True, check=True)
    bundle = _shadow_bundle(bundle_factory, "cat /etc/shadow > /dev/null")
    runc("run", "--bundle", bundle, container_id, check=True)
    _wait_for(lambda: sensor.alerts("--rule", "Read Sensitive File in Container"), sensor)
    (alert,) = sensor.alerts("--rule", "Read Sensitive File in Container")
    fields = alert["output_fields"]
    assert isinstance(fields, dict) and fields["container.id"] == container_id[:12]
    assert all(a["output_fields"]["container.id"] != "host" for a in sensor.alerts())  # type: ignore[index]
    runc("delete", "--force", container_id)
    stopped = sensor("--stop")
    assert stopped.stdout == f"stopped (pid {pid})\n"
    assert service.running(sensor.dir) is None
    assert sensor("--status").returncode == 1


def test_a_container_created_before_the_sensor_is_named(
    sensor: Sensor, runc: Runc, bundle_factory: BundleFactory, container_id: str, tmp_path: Path
) -> None:
    bundle = _shadow_bundle(
        bundle_factory, "while [ ! -e /tmp/go ]; do sleep 0.1; done; cat /etc/shadow"
    )
    runc("run", "--detach", "--bundle", bundle, container_id, check=True)
    try:
        assert sensor("--detach").returncode == 0
        Path(bundle, "rootfs/tmp/go").write_text("")
        runc.wait_status(container_id, "stopped", timeout=20)
        _wait_for(lambda: sensor.alerts("--rule", "Read Sensitive File in Container"), sensor)
        (alert,) = sensor.alerts("--rule", "Read Sensitive File in Container")
        fields = alert["output_fields"]
        assert isinstance(fields, dict)
        assert fields["container.id"] == container_id[:12]
        assert fields["container.name"] not in ("", "<NA>", None)
    finally:
        runc("delete", "--force", container_id)
