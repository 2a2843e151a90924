"""The in-kernel kill, live: `bastion watch` with kill_process rules on a real container.

The container waits until the sensor has named its first command (a marker rule's alert on
watch's stdout: the container's init has exec'd and user space has armed the probe's kill in
its cgroup), then runs the programs the rules name. A rule the kernel can decide kills in the
kernel (the alert records ``killed-process (kernel)``), one it cannot kills from user space
(``killed-process``); neither touches the container's other processes, nor a host process of
the same name (the host is watched too: no ``--container``).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bastion_testing.helper import PATH_IN_ROOTFS as HELPER
from bastion_testing.helper import parse_records
from bastion_testing.plugin import BundleFactory
from bastion_testing.runc import Runc

pytestmark = [pytest.mark.privileged, pytest.mark.bpf]

BASTION = os.path.join(os.path.dirname(sys.executable), "bastion")
VICTIMS = 3  # the decided rule's matches: each one must be killed in the kernel

RULES = """\
- rule: bst-test marker
  desc: the container's first command (the test waits for its alert)
  condition: evt.type = execve and evt.dir = < and container.id != host and proc.name = bst-marker
  output: marker (proc=%proc.name container=%container.id)
  priority: NOTICE
- rule: bst-test victim
  desc: decided in the kernel (exec, result, name), on the host too (where no action is taken)
  condition: >
    evt.type in (execve, execveat) and evt.dir = < and evt.res = SUCCESS
    and proc.name in (bst-victim, bst-unborn)
  output: victim (proc=%proc.name pid=%proc.pid container=%container.id)
  priority: WARNING
  action: [kill_process]
- rule: bst-test unsure
  desc: the parent's name is not known to the kernel, so user space kills
  condition: >
    evt.type = execve and evt.dir = < and container.id != host and proc.name = bst-unsure
    and proc.pname != bst-nobody
  output: unsure (proc=%proc.name pid=%proc.pid container=%container.id)
  priority: WARNING
  action: [kill_process]
"""

SCRIPT = f"""\
for n in marker victim unsure; do cp {HELPER} /tmp/bst-$n; done
/tmp/bst-marker true
while [ ! -e /tmp/bst-go ]; do sleep 0.05; done
sleep 60 & sibling=$!
i=0; while [ $i -lt {VICTIMS} ]; do /tmp/bst-victim sleep 30; echo victim=$?; i=$((i+1)); done
/tmp/bst-unsure sleep 30; echo unsure=$?
kill -0 $sibling; echo sibling=$?
kill $sibling
"""


class LiveWatch:
    """`bastion watch -o json` on the whole host; alerts are read as they come."""

    def __init__(self, root: str, *args: str) -> None:
        argv = [BASTION, "--root", root, "watch", "-o", "json", *args]
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.head: list[str] = []
        self.alerts: list[dict[str, Any]] = []
        self._pending = b""  # a line not complete yet
        assert self.proc.stderr is not None
        for line in self.proc.stderr:  # until the probe is attached
            self.head.append(line)
            if line.startswith("bastion: watching"):
                return
        self.proc.wait()
        raise AssertionError(f"watch exited {self.proc.returncode}: {''.join(self.head)}")

    def wait_alert(self, rule: str, timeout: float = 30) -> dict[str, Any]:
        """The first alert of `rule` (awaited, not timed). The pipe is read with os.read: a
        buffered reader would keep a second line of one read where select cannot see it."""
        stdout = self.proc.stdout
        assert stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for alert in self.alerts:
                if alert["rule"] == rule:
                    return alert
            if select.select([stdout], [], [], 0.1)[0]:
                self._pending += os.read(stdout.fileno(), 1 << 16)
                *lines, self._pending = self._pending.split(b"\n")
                self.alerts += [json.loads(line) for line in lines if line.strip()]
        raise AssertionError(f"no {rule!r} alert in {self.alerts}; {''.join(self.head)}")

    def stop(self) -> tuple[list[dict[str, Any]], dict[str, str]]:
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, "".join(self.head) + err
        rest = self._pending.decode() + out
        self.alerts += [json.loads(line) for line in rest.splitlines() if line.strip()]
        lines = err.splitlines()
        block = lines[lines.index("statistics:") + 1 :]
        stats = {}
        for line in block:
            if not line.startswith("  "):
                break
            label, _, value = line.strip().rpartition("  ")
            stats[label.strip()] = value.strip()
        return self.alerts, stats

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.mark.parametrize("in_kernel", [True, False], ids=["kernel", "no-kernel-kill"])
def test_decided_matches_die_in_the_kernel_the_rest_from_user_space(
    runc: Runc,
    bundle_factory: BundleFactory,
    container_id: str,
    runtime_root: str,
    tmp_path: Path,
    in_kernel: bool,
) -> None:
    """The same workload with the in-kernel kill and with `--no-kernel-kill`: the same
    processes die, only the path (and the alert's record of it) differs."""
    rules = tmp_path / "bst-test-kill.yaml"
    rules.write_text(RULES)
    bundle = bundle_factory(
        args=["sh", "-c", f"{{\n{SCRIPT}}} > /tmp/bst-out 2>&1"], readonly=False
    )
    runc("create", "--bundle", bundle, container_id, check=True)
    program = tmp_path / "bst-victim"
    shutil.copy2("/bin/sleep", program)
    host = None
    flags = () if in_kernel else ("--no-kernel-kill",)
    watch = LiveWatch(runtime_root, "-r", str(rules), "--events", "execve", *flags)
    try:
        announced = any(
            "in-kernel kill: 'bst-test victim' (bst-victim, bst-unborn)" in line
            for line in watch.head
        )
        assert announced == in_kernel, watch.head
        host = subprocess.Popen([str(program), "60"])  # the host's namesake: never touched
        runc("start", container_id, check=True)
        watch.wait_alert("bst-test marker")
        Path(bundle, "rootfs/tmp/bst-go").touch()
        runc.wait_status(container_id, "stopped", timeout=60)
        time.sleep(0.3)  # watch reads the ring every 0.1 s
        host_alive = host.poll() is None
        alerts, stats = watch.stop()
    finally:
        watch.kill()
        if host is not None:
            host.kill()
            host.wait()
    assert host_alive
    out = Path(bundle, "rootfs/tmp/bst-out").read_text()
    records = parse_records(out)
    assert [r for r in records if "victim" in r] == [{"victim": "137"}] * VICTIMS, out
    assert {"unsure": "137"} in records and {"sibling": "0"} in records, out
    short = container_id[:12]
    victims = [a for a in alerts if a["rule"] == "bst-test victim"]
    in_container = [a for a in victims if a["output_fields"]["container.id"] == short]
    # the kernel killed exactly the rule's matches in the container, and the alerts say so
    assert len(in_container) == VICTIMS
    done = "killed-process (kernel)" if in_kernel else "killed-process"
    assert {a["action"] for a in in_container} == {done}
    # the host's namesake matched the rule too, and nothing acted on it
    on_host = [a for a in victims if a["output_fields"]["proc.pid"] == host.pid]
    assert len(on_host) == 1 and "action" not in on_host[0], on_host
    (unsure,) = [a for a in alerts if a["rule"] == "bst-test unsure"]
    assert unsure["action"] == "killed-process"  # the user-space path
    assert stats["processes killed"] == str(VICTIMS + 1)
    assert stats.get("of which in the kernel") == (str(VICTIMS) if in_kernel else None)
    assert "kernel kills done" not in stats  # the probe's count agrees with the alerts'
