"""The probe on the real kernel: exec events from tp_btf/sched_process_exec through the ring buffer.

Loads bastion.bpf.o with libbpf, runs /bin/true and /bin/echo from the test, and checks the
records (filename, pid, ppid, comm, cgroup id), the kernel counters, and that leaving the `with`
block leaves no program or link behind in the kernel (`bpftool prog list` / `link list`).
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from bastion.sensor.probe import ExecEvent, Probe
from bastion.sensor.probe.loader import PROGRAMS

pytestmark = [pytest.mark.privileged, pytest.mark.bpf]


def _bpftool(*args: str) -> list[dict[str, object]]:
    out = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True, check=True)
    parsed: list[dict[str, object]] = json.loads(out.stdout or "[]")
    return parsed


def _our_programs() -> list[dict[str, object]]:
    return [p for p in _bpftool("prog", "list") if p.get("name") in PROGRAMS]


def _our_links(prog_ids: set[object]) -> list[dict[str, object]]:
    return [link for link in _bpftool("link", "list") if link.get("prog_id") in prog_ids]


def _unified_cgroup_id() -> int:
    """The cgroup v2 id of this process: the inode of its directory in the unified hierarchy."""
    with open("/proc/self/cgroup") as f:
        path = next(line.split(":", 2)[2].strip() for line in f if line.startswith("0::"))
    with open("/proc/self/mounts") as f:
        root = next(line.split()[1] for line in f if line.split()[2] == "cgroup2")
    return os.stat(root + path).st_ino


def _collect(probe: Probe, pids: set[int], deadline_s: float = 5.0) -> dict[int, ExecEvent]:
    found: dict[int, ExecEvent] = {}
    deadline = time.monotonic() + deadline_s
    while set(found) != pids and time.monotonic() < deadline:
        probe.ring.poll(0.2)
        found.update((e.pid, e) for e in probe.ring.read_batch(4096) if e.pid in pids)
    return found


def test_exec_events_reach_python_and_nothing_leaks() -> None:
    assert not _our_programs(), "a bastion probe is already loaded; cannot check for leaks"
    with Probe() as probe:
        loaded = _our_programs()
        assert len(loaded) == len(PROGRAMS)
        assert _our_links({p["id"] for p in loaded})
        true = subprocess.Popen(["/bin/true"])
        echo = subprocess.Popen(["/bin/echo", "hello"], stdout=subprocess.PIPE)
        assert echo.communicate()[0] == b"hello\n"
        assert true.wait() == 0
        events = _collect(probe, {true.pid, echo.pid})
        stats = probe.statistics()

    assert set(events) == {true.pid, echo.pid}
    cgroup_id = _unified_cgroup_id()
    for child, filename, comm in ((true, "/bin/true", "true"), (echo, "/bin/echo", "echo")):
        event = events[child.pid]
        assert event.filename == filename
        assert event.comm == comm
        assert event.tid == child.pid
        assert event.ppid == os.getpid()
        assert event.cgroup_id == cgroup_id
        assert event.ts_ns > 0
    assert stats.produced >= 2
    assert stats.dropped_ring_full == 0
    assert stats.read >= 2

    # The kernel frees a closed program after an RCU grace period: allow it a moment.
    deadline = time.monotonic() + 5.0
    while _our_programs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _our_programs()
    assert not _our_links({p["id"] for p in loaded})
