"""bastion's alerts through the Docker API: a watched container reads /etc/shadow (through
`docker exec`), the sensor's alert reaches `/events` as Type `bastion` for a client that asks
for it (`docker events --filter type=bastion`) and never a plain `docker events`, and the
container's inspect carries its alert count (`bastion.alerts`, `X-Bastion-Alerts`)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from bastion_testing.api_service import DOCKER, Service, serving
from bastion_testing.engine import Bastion, stored_alerts, watched_engine_rig

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [
    pytest.mark.privileged,
    pytest.mark.bpf,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with watched_engine_rig(busybox_rootfs, prefix="bst-test-apia-") as b:
        yield b


@pytest.fixture(scope="module")
def service(bastion: Bastion) -> Iterator[Service]:
    with serving(bastion) as s:
        yield s


def test_alerts_on_events_and_inspect(service: Service, bastion: Bastion, tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.write_text("root:*:19000:0:99999:7:::\n")
    # `run --watch` starts the rig's sensor; the API's containers are then watched too
    cid = bastion.ok(
        *("run", "--watch", "-d", "--name", "bst-apia", "-v", f"{shadow}:/etc/shadow:ro"),
        *(bastion.image, "sleep", "300"),
    ).strip()
    started = f"{time.time():.3f}"
    events = subprocess.Popen(
        [DOCKER, "events", "--filter", "type=bastion", "--format", "{{json .}}"],
        env=service.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1)  # subscribed before the alert
        read = service.docker("exec", "bst-apia", "cat", "/etc/shadow")
        assert read.returncode == 0, read.stderr
        assert events.stdout is not None
        # the alert's event, awaited (not timed); the exec may raise others before it (its
        # entering the container's namespaces: "Namespace Change in Container")
        rules: list[str] = []
        while "Read Sensitive File in Container" not in rules:
            line = events.stdout.readline()
            assert line, f"the events stream ended; alerts seen: {rules}"
            event = json.loads(line)
            assert event["Type"] == "bastion" and event["Action"] == "alert", event
            attributes = event["Actor"]["Attributes"]
            assert attributes["name"] == "bst-apia" and cid.startswith(event["Actor"]["ID"])
            rules.append(attributes["rule"])
    finally:
        events.terminate()
        events.wait(timeout=10)
        if events.stdout is not None:
            events.stdout.close()
    # a plain `docker events` over the same time: no bastion event
    ended = f"{time.time():.3f}"
    plain = service.docker("events", "--since", started, "--until", ended, "--format", "{{.Type}}")
    assert plain.returncode == 0 and "bastion" not in plain.stdout, plain
    count = len(stored_alerts(bastion, "--container", "bst-apia"))
    assert count >= 1
    shown = service.docker("inspect", "-f", "{{.bastion.alerts}}", "bst-apia")
    assert shown.stdout.strip() == str(count), shown
    client = service.client()
    try:
        answer = client.api._get(client.api._url("/containers/{0}/json", cid))
        assert answer.headers["X-Bastion-Alerts"] == str(count)
    finally:
        client.close()
        bastion("rm", "-f", cid)
    assert os.environ["BASTION_SENSOR_DIR"]
