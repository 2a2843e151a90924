"""`bastion capture -w` and `bastion events -r` on the real probe: what a program did is in the
file, a container filter keeps only that container, and a too-small ring shows its drops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bastion_testing.plugin import BundleFactory
from bastion_testing.runc import Runc

pytestmark = [pytest.mark.privileged, pytest.mark.bpf]

BASTION = os.path.join(os.path.dirname(sys.executable), "bastion")


class Capture:
    """`bastion capture` running in the background until `stop()` (SIGTERM to its pid)."""

    def __init__(self, *args: str) -> None:
        self.stderr = ""
        self.proc = subprocess.Popen(
            [BASTION, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()  # "capturing to ..." once the probe is attached
        if "capturing" not in line:
            self.stop()
            pytest.fail(f"bastion capture did not start: {line}{self.stderr}", pytrace=False)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.stderr = err
        return err


@pytest.fixture
def capture() -> Iterator[list[Capture]]:
    started: list[Capture] = []
    yield started
    for running in started:
        if running.proc.poll() is None:
            running.proc.kill()
            running.proc.communicate()


def _events(path: Path, *extra: str) -> tuple[list[dict[str, Any]], str]:
    done = subprocess.run(
        [BASTION, "events", "-r", str(path), "-o", "json", *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()], done.stderr


def _stat(stderr: str, label: str) -> int:
    for line in stderr.splitlines():
        if line.strip().startswith(label):
            return int(line.split()[-1])
    raise AssertionError(f"no {label!r} in:\n{stderr}")


def test_capture_then_events_shows_the_programs_openat(
    tmp_path: Path, capture: list[Capture]
) -> None:
    target = tmp_path / "bst-test-target"
    target.write_text("hello\n")
    out = tmp_path / "c.bcap"
    running = Capture("capture", "-w", str(out))
    capture.append(running)
    cat = subprocess.Popen(["cat", str(target)], stdout=subprocess.DEVNULL)
    assert cat.wait(timeout=10) == 0
    time.sleep(0.3)
    err = running.stop()
    assert running.proc.returncode == 0, err
    assert _stat(err, "events written") > 0
    assert _stat(err, "dropped (ring buffer full)") == 0
    events, stats = _events(out)
    opens = [e for e in events if e["type"] == "openat" and e["pid"] == cat.pid]
    assert [e["params"]["name"] for e in opens if str(target) in e["params"]["name"]], opens
    hit = next(e for e in opens if str(target) in e["params"]["name"])
    assert hit["tid"] == cat.pid and hit["dir"] == "<"
    assert int(hit["res"]) >= 0
    assert _stat(stats, "events shown") == len(events)
    # The text form names the same event on one line.
    text = subprocess.run(
        [BASTION, "events", "-r", str(out)], capture_output=True, text=True, check=True
    ).stdout
    line = next(
        ln for ln in text.splitlines() if f"({cat.pid}) < openat" in ln and str(target) in ln
    )
    assert line.split()[0] == str(hit["num"])


def test_container_filter_keeps_only_that_container(
    tmp_path: Path,
    capture: list[Capture],
    runc: Runc,
    bundle_factory: BundleFactory,
    container_id: str,
) -> None:
    bundle = bundle_factory(args=["sh", "-c", "cat /etc/hostname; cat /etc/passwd; sleep 0.5"])
    runc("create", "--bundle", bundle, container_id, check=True)
    with open(os.path.join(runc.root, container_id, "identity.json")) as f:
        cgroup_ids = set(json.load(f)["cgroupIds"])
    out = tmp_path / "c.bcap"
    running = Capture("--root", runc.root, "capture", "-w", str(out), "--container", container_id)
    capture.append(running)
    runc("start", container_id, check=True)
    host_cat = subprocess.Popen(["cat", "/etc/hostname"], stdout=subprocess.DEVNULL)
    assert host_cat.wait(timeout=10) == 0
    runc.wait_status(container_id, "stopped")
    err = running.stop()
    assert running.proc.returncode == 0, err
    assert _stat(err, "skipped by the container filter") > 0
    events, _ = _events(out)
    assert events
    assert {e["cgroup_id"] for e in events} <= cgroup_ids
    assert not [e for e in events if e["pid"] == host_cat.pid]
    names = {e["params"].get("name") for e in events if e["type"] == "openat"}
    assert "/etc/passwd" in names, names
    runc("delete", container_id, check=True)


def test_a_tiny_ring_shows_drops_in_both_commands(tmp_path: Path, capture: list[Capture]) -> None:
    target = tmp_path / "bst-test-target"
    target.write_text("x")
    out = tmp_path / "c.bcap"
    running = Capture("capture", "-w", str(out), "--ring-size", "4096", "--events", "openat,close")
    capture.append(running)
    flood = "import os,sys\nfor _ in range(20000): os.close(os.open(sys.argv[1], os.O_RDONLY))\n"
    subprocess.run([sys.executable, "-c", flood, str(target)], check=True, timeout=60)
    err = running.stop()
    assert running.proc.returncode == 0, err
    dropped = _stat(err, "dropped (ring buffer full)")
    assert dropped > 0
    assert "lost" in err
    events, stats = _events(out)
    assert _stat(stats, "dropped (ring buffer full)") == dropped
    assert _stat(stats, "events shown") == len(events) == _stat(err, "events written")
