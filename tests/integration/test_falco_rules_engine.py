"""Falco's own stable rules, unmodified, on engine containers: the sensor service loaded with
Falco's falco_rules.yaml (`bastion sensor -r FILE -p FORMAT`, Falco's -p appending the container's
fields to each output) watches `bastion run` containers, and the
rules fire with the container's name and image filled, as Falco's do under Docker.

- `bastion run -it IMAGE sh` on a terminal: "Terminal shell in container" (a shell, pid 1 of
  the container, started by the runtime with a controlling terminal: the probe reports the
  terminal on exec, as Falco's driver does);
- `bastion run IMAGE cat /etc/shadow`: "Read sensitive file untrusted".
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bastion_testing import shared_data
from bastion_testing.engine import BASTION, Bastion, engine_rig, stored_alerts
from bastion_testing.terminal import Terminal

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [
    pytest.mark.privileged,
    pytest.mark.bpf,
    shared_data.needs(*shared_data.FALCO_RULES),
]

STABLE = str(shared_data.shared_path(*shared_data.FALCO_RULES))
#: What Falco's `-p` (`append_output` in its falco.yaml) adds to every rule's output: the stable
#: rules' own outputs name no container field.
CONTAINER = (
    "container_id=%container.id container_name=%container.name "
    "image=%container.image.repository:%container.image.tag"
)


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    """The rig with a sensor service of its own running Falco's stable rules only."""
    from bastion.sensor import service

    with engine_rig(busybox_rootfs, prefix="bst-test-falco-") as b:
        directory = os.path.join(os.path.dirname(b.root), "sensor")
        argv = [BASTION, "--root", b.runtime_root, "sensor", "-r", STABLE, "-p", CONTAINER]
        argv += ["--service-dir", directory, "--no-stdout"]
        argv += ["--alerts-db", os.path.join(b.root, "alerts.db")]
        os.makedirs(directory, mode=0o700)
        with open(os.path.join(directory, "sensor.log"), "wb") as log:
            sensor = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 60
            while not service.is_ready(directory):
                assert sensor.poll() is None, Path(directory, "sensor.log").read_text()
                assert time.monotonic() < deadline, "the sensor was not ready in 60 s"
                time.sleep(0.1)
            yield b
        finally:
            sensor.send_signal(signal.SIGINT)
            sensor.wait(timeout=60)
            assert service.running(directory) is None


def await_rule(bastion: Bastion, name: str, rule: str) -> dict[str, object]:
    """The output fields of the first `rule` alert of container `name`, awaited."""
    deadline = time.monotonic() + 60  # the alert is awaited, not timed (a loaded host lags)
    while not (
        found := [a for a in stored_alerts(bastion, "--container", name) if a["rule"] == rule]
    ):
        assert time.monotonic() < deadline, f"no {rule!r}: {stored_alerts(bastion)}"
        time.sleep(0.2)
    fields = found[0]["output_fields"]
    assert isinstance(fields, dict)
    return fields


def assert_container_fields(bastion: Bastion, fields: dict[str, object], name: str) -> None:
    repository, tag = bastion.image.rsplit(":", 1)
    assert fields["container.name"] == name
    assert fields["container.image.repository"] == repository
    assert fields["container.image.tag"] == tag
    assert len(str(fields["container.id"])) == 12


def test_terminal_shell_in_container(bastion: Bastion) -> None:
    name = "falco-terminal"
    # its neighbour: the same shell without a terminal (run first: once the terminal's alert
    # is stored, the sensor has evaluated this one's exec too)
    quiet = bastion("run", "--rm", "--name", "falco-no-terminal", bastion.image, "sh", "-c", "true")
    assert quiet.returncode == 0, quiet.stderr
    argv = bastion.argv("run", "-it", "--rm", "--name", name, bastion.image, "sh")
    with Terminal(argv) as t:
        # what is typed before the shell sets its terminal up may be lost: an empty line until
        # a prompt answers (as tests/integration/test_engine_tty.py does)
        for _ in range(40):
            t.send(b"\r")
            if t.try_expect(rb"# ", 0.5):
                break
        t.send(b"echo rea''dy\r")  # the quotes: what the shell prints, not the echoed line
        t.expect(b"ready")
        t.send(b"exit 3\r")
        assert t.wait() == 3
    fields = await_rule(bastion, name, "Terminal shell in container")
    assert_container_fields(bastion, fields, name)
    assert fields["proc.name"] == "sh"
    assert fields["proc.tty"] not in (0, "0", None, "<NA>")
    assert stored_alerts(bastion, "--container", "falco-no-terminal") == []


def test_read_sensitive_file_untrusted(bastion: Bastion, tmp_path: object) -> None:
    name = "falco-shadow"
    shadow = os.path.join(str(tmp_path), "shadow")
    with open(shadow, "w") as f:
        f.write("root:*:19000:0:99999:7:::\n")
    result = bastion(
        "run", "--rm", "--name", name, "--network", "none",
        "-v", f"{shadow}:/etc/shadow:ro", bastion.image, "cat", "/etc/shadow",
    )  # fmt: skip
    assert result.returncode == 0 and result.stdout.startswith("root:"), result.stderr
    fields = await_rule(bastion, name, "Read sensitive file untrusted")
    assert_container_fields(bastion, fields, name)
    assert fields["fd.name"] == "/etc/shadow"
    assert fields["proc.name"] == "cat"
