"""Attack-like actions inside engine containers (`bastion run --watch`, bastion's default rules):
each raises its rule with the container's name and image; benign work raises none.

One sensor service serves the module (started by the first `run --watch`); every scenario is a
container of its own, named after it, so an alert is matched to its scenario by
`container.name`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from bastion_testing.engine import Bastion, stored_alerts, watched_engine_rig
from bastion_testing.helper import PATH_IN_ROOTFS as HELPER

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.privileged, pytest.mark.bpf]


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with watched_engine_rig(busybox_rootfs, prefix="bst-test-scen-") as b:
        yield b


def alerts(bastion: Bastion, name: str) -> list[dict[str, object]]:
    return stored_alerts(bastion, "--container", name)


def run_watched(bastion: Bastion, name: str, *argv: str, flags: tuple[str, ...] = ()) -> None:
    result = bastion("run", "--watch", "--rm", "--name", name, *flags, bastion.image, *argv)
    assert result.returncode in (0, 1, 2), result.stderr  # some scenarios fail by design


SCENARIOS = {
    "shell": ("Shell Spawned in Container", ("sh", "-c", "sh -c true; true")),
    "bin-write": ("Write Below Binary Directory", ("sh", "-c", "echo x > /usr/bin/dropper")),
    "package-manager": (
        "Package Manager in Container",
        ("sh", "-c", "cp /bin/busybox /tmp/apt-get && /tmp/apt-get; true"),
    ),
    "memfd-exec": ("Fileless Execution in Container", (HELPER, "memfd-exec", "/bin/true")),
    "ptrace": ("Ptrace in Container", (HELPER, "ptrace-child")),
    "module-load": ("Kernel Module Loaded from Container", (HELPER, "finit-module")),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_an_attack_raises_its_rule_named(bastion: Bastion, scenario: str) -> None:
    rule, argv = SCENARIOS[scenario]
    name = f"scen-{scenario}"
    run_watched(bastion, name, *argv)
    deadline = time.monotonic() + 30  # the alert is awaited, not timed
    while not (found := [a for a in alerts(bastion, name) if a["rule"] == rule]):
        assert time.monotonic() < deadline, f"no {rule!r}: {alerts(bastion, name)}"
        time.sleep(0.2)
    fields = found[0]["output_fields"]
    assert isinstance(fields, dict) and fields["container.name"] == name
    if "container.image" in fields:
        assert fields["container.image"] == bastion.image


def test_benign_work_raises_nothing(bastion: Bastion) -> None:
    """A small build-like job: files written, read and sourced in /tmp (a script run by a new
    shell is what the shell rule is about), and a server answering requests on the
    container's loopback; then a marker scenario, so the sensor has surely
    evaluated everything before the benign container's alerts are counted."""
    job = (
        "mkdir -p /tmp/build && cd /tmp/build"
        ' && for i in 1 2 3 4 5; do echo "echo step $i" > step$i.sh; done'
        " && for f in step*.sh; do . ./$f > /dev/null; done"
        " && cat step1.sh step2.sh > all.txt && wc -l all.txt > /dev/null"
        " && echo hello > /tmp/index.html"
        " && httpd -p 127.0.0.1:8080 -h /tmp"
        " && for i in 1 2 3; do wget -q -O /dev/null http://127.0.0.1:8080/index.html; done"
    )
    run_watched(bastion, "scen-benign", "sh", "-c", job)
    run_watched(bastion, "scen-marker", "sh", "-c", "sh -c true; true")
    deadline = time.monotonic() + 30
    while not alerts(bastion, "scen-marker"):
        assert time.monotonic() < deadline, "the marker's alert never came"
        time.sleep(0.2)
    assert alerts(bastion, "scen-benign") == []
