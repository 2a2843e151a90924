"""`bastion watch` as a process, live: a real container, the real probe, alerts on stdout.

Each test creates a bastion-runc container, starts `bastion --root ROOT watch` on it, waits for
watch's "watching" line on stderr (its probe is attached from then on), starts the container and
reads what watch printed: Falco's JSON alerts on stdout, the statistics on stderr. `--kill`
must end a container process that raised a WARNING-or-worse rule and never a host process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from bastion.oci.defaults import default_spec
from bastion_testing.helper import PATH_IN_ROOTFS as HELPER
from bastion_testing.helper import parse
from bastion_testing.plugin import BundleFactory
from bastion_testing.runc import Runc

pytestmark = [pytest.mark.privileged, pytest.mark.bpf]

BASTION = os.path.join(os.path.dirname(sys.executable), "bastion")
#: Falco's JSON time: RFC 3339, UTC, nanoseconds.
FALCO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
FALCO_KEYS = {"hostname", "output", "output_fields", "priority", "rule", "source", "tags", "time"}


class Watch:
    """A running `bastion watch`; `stop()` ends it with SIGINT and returns (alerts, stats)."""

    def __init__(self, root: str, *args: str) -> None:
        argv = [BASTION, "--root", root, "watch", "-o", "json", *args]
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.head: list[str] = []
        assert self.proc.stderr is not None
        for line in self.proc.stderr:  # until the probe is attached
            self.head.append(line)
            if line.startswith("bastion: watching"):
                return
        self.proc.wait()
        raise AssertionError(f"watch exited {self.proc.returncode}: {''.join(self.head)}")

    def stop(self) -> tuple[list[dict[str, Any]], dict[str, str]]:
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, "".join(self.head) + err
        alerts = [json.loads(line) for line in out.splitlines() if line.strip()]
        return alerts, statistics(err)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def statistics(stderr: str) -> dict[str, str]:
    """The `statistics:` block of watch's stderr as {label: value}."""
    lines = stderr.splitlines()
    assert "statistics:" in lines, stderr
    block = lines[lines.index("statistics:") + 1 :]
    found = {}
    for line in block:
        if not line.startswith("  "):
            break
        label, _, value = line.strip().rpartition("  ")
        found[label.strip()] = value.strip()
    return found


@pytest.fixture
def watches() -> Iterator[list[Watch]]:
    """Watch processes a test started: killed (by pid) if the test did not stop them."""
    started: list[Watch] = []
    yield started
    for watch in started:
        watch.kill()


def wait_stopped(runc: Runc, cid: str, timeout: float) -> float:
    """Seconds until the container stops (fails after `timeout`)."""
    began = time.monotonic()
    runc.wait_status(cid, "stopped", timeout=timeout)
    return time.monotonic() - began


def exec_shm_mounts() -> list[dict[str, Any]]:
    """The default mounts with /dev/shm executable (runc's default mounts it noexec)."""
    mounts: list[dict[str, Any]] = [dict(m) for m in default_spec()["mounts"]]  # type: ignore[attr-defined]
    for mount in mounts:
        if mount["destination"] == "/dev/shm":
            mount["options"] = [o for o in mount["options"] if o != "noexec"]
    return mounts


def in_sh(command: str) -> list[str]:
    return ["sh", "-c", f"{{ {command}; }} > /tmp/bst-out 2>&1"]


def create(
    runc: Runc, bundle_factory: BundleFactory, cid: str, args: Sequence[str], **edits: Any
) -> str:
    bundle = bundle_factory(args=args, readonly=False, **edits)
    runc("create", "--bundle", bundle, cid, check=True)
    return bundle


def test_json_alerts_and_statistics(
    runc: Runc,
    bundle_factory: BundleFactory,
    container_id: str,
    runtime_root: str,
    watches: list[Watch],
) -> None:
    bundle = create(runc, bundle_factory, container_id, in_sh("/bin/cat /etc/shadow"))
    Path(bundle, "rootfs/etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    watch = Watch(runtime_root, "--container", container_id)
    watches.append(watch)
    runc("start", container_id, check=True)
    wait_stopped(runc, container_id, 20)
    time.sleep(0.3)  # watch reads the ring every 0.1 s; its last batch is read at the stop too
    alerts, stats = watch.stop()
    assert len(alerts) == 1, alerts
    alert = alerts[0]
    assert set(alert) == FALCO_KEYS
    assert (alert["rule"], alert["priority"], alert["source"]) == (
        "Read Sensitive File in Container",
        "Warning",
        "syscall",
    )
    assert FALCO_TIME.match(alert["time"]), alert["time"]
    fields = alert["output_fields"]
    assert fields["container.id"] == container_id[:12]
    assert (fields["proc.name"], fields["fd.name"]) == ("cat", "/etc/shadow")
    assert isinstance(fields["evt.time"], int) and isinstance(fields["proc.pid"], int)
    assert "sensitive file opened for reading" in alert["output"]
    assert "T1555" in alert["tags"]
    assert int(stats["events"]) > 0 and int(stats["alerts"]) == 1
    assert int(stats["read from the ring"]) >= int(stats["events"])
    assert stats["dropped (ring buffer full)"] == "0"


def test_kill_ends_the_container_process(
    runc: Runc,
    bundle_factory: BundleFactory,
    container_id: str,
    runtime_root: str,
    watches: list[Watch],
) -> None:
    mounts = exec_shm_mounts()
    run = f"cp {HELPER} /dev/shm/bst-drop; /dev/shm/bst-drop sleep 30; echo status=$?"
    bundle = create(runc, bundle_factory, container_id, in_sh(run), mounts=mounts)
    watch = Watch(runtime_root, "--container", container_id, "--kill", "warning")
    watches.append(watch)
    runc("start", container_id, check=True)
    took = wait_stopped(runc, container_id, 20)
    alerts, stats = watch.stop()
    assert took < 10  # the sleeper was killed, not waited for (30 s)
    assert parse(Path(bundle, "rootfs/tmp/bst-out").read_text()) == {"status": "137"}  # SIGKILL
    shm = [a for a in alerts if a["rule"] == "Execution from /dev/shm in Container"]
    assert len(shm) == 1 and shm[0]["output_fields"]["proc.name"] == "bst-drop"
    assert stats["processes killed"] == "1"


def test_kill_never_touches_a_host_process(
    runtime_root: str, tmp_path: Path, watches: list[Watch]
) -> None:
    rules = tmp_path / "bst-test-rules.yaml"
    rules.write_text(
        "- rule: bst-test host sleeper\n"
        "  desc: a host program the test starts\n"
        "  condition: evt.type = execve and evt.dir = < and proc.name = bst-test-sleep\n"
        "  output: host sleeper (proc=%proc.name pid=%proc.pid container=%container.id)\n"
        "  priority: CRITICAL\n"
    )
    program = tmp_path / "bst-test-sleep"
    shutil.copy2("/bin/sleep", program)
    # No --container: the whole host is watched (only execve, to keep the load small).
    watch = Watch(runtime_root, "-r", str(rules), "--events", "execve", "--kill", "debug")
    watches.append(watch)
    sleeper = subprocess.Popen([str(program), "30"])
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and sleeper.poll() is None:
            time.sleep(0.1)
        alive = sleeper.poll() is None
        alerts, stats = watch.stop()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert alive
    mine = [a for a in alerts if a["output_fields"]["proc.pid"] == sleeper.pid]
    assert len(mine) == 1 and mine[0]["output_fields"]["container.id"] == "host"
    assert stats["processes killed"] == "0"
