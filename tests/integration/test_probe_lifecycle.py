"""The probe's life cycle and in-kernel filters on the real kernel.

Clean-up (no program, link or map left, also after a failed start), exact drop accounting on
a deliberately small ring buffer, the failed-syscall and syscall filters, and containers: an
event from inside a bastion-runc container carries the cgroup id of its identity.json, and
the cgroup filter set to that id skips (and counts) host events.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bastion.identity import ContainerIdentity
from bastion.sensor.events.model import Event
from bastion.sensor.probe import Probe, ProbeError, ProbeLoadError
from bastion.sensor.probe.build import CACHE_DIR, SOURCE, build_probe
from bastion.sensor.probe.loader import MAPS, PROGRAMS
from bastion_testing.plugin import BundleFactory
from bastion_testing.runc import Runc

pytestmark = [pytest.mark.privileged, pytest.mark.bpf]


def _bpftool_ids(kind: str) -> set[int]:
    out = subprocess.run(
        ["bpftool", "-j", kind, "list"], capture_output=True, text=True, check=True
    )
    return {int(item["id"]) for item in json.loads(out.stdout or "[]")}


def _wait_gone(ids: dict[str, tuple[int, ...]], deadline_s: float = 5.0) -> dict[str, set[int]]:
    """What is still listed of `ids`; the kernel frees programs and maps after an RCU grace."""
    deadline = time.monotonic() + deadline_s
    while True:
        left = {kind: set(want) & _bpftool_ids(kind) for kind, want in ids.items()}
        if not any(left.values()) or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def _drain(probe: Probe) -> list[Event]:
    events: list[Event] = []
    while batch := probe.read_events():
        events += batch
    return events


def _collect(probe: Probe, until: Callable[[Event], bool], deadline_s: float = 10.0) -> list[Event]:
    events: list[Event] = []
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        probe.poll(0.05)
        for event in probe.read_events():
            events.append(event)
            if until(event):
                return events
    raise AssertionError(f"the awaited event did not come within {deadline_s}s")


def _run(code: str) -> int:
    child = subprocess.run([sys.executable, "-S", "-c", code], check=True)
    assert child.returncode == 0
    return 0


def _child_pid_events(probe: Probe, code: str) -> tuple[int, list[Event]]:
    child = subprocess.Popen([sys.executable, "-S", "-c", code])
    assert child.wait(timeout=30) == 0
    pid = child.pid
    events = _collect(probe, lambda e: e.type == "procexit" and e.tid == pid)
    return pid, [e for e in events if e.pid == pid]


def _own_cgroup_id() -> int:
    """This process's cgroup v2 id: the inode of its directory in the unified hierarchy."""
    with open("/proc/self/cgroup") as f:
        path = next(line.split(":", 2)[2].strip() for line in f if line.startswith("0::"))
    with open("/proc/self/mounts") as f:
        root = next(line.split()[1] for line in f if line.split()[2] == "cgroup2")
    return os.stat(root + path).st_ino


def test_stop_leaves_no_program_link_or_map() -> None:
    with Probe() as probe:
        ids = probe.kernel_object_ids()
        assert len(ids["prog"]) == len(PROGRAMS) == len(ids["link"])
        assert len(ids["map"]) == len(MAPS)
        for kind, want in ids.items():
            assert set(want) <= _bpftool_ids(kind), kind
        running = probe.statistics()
    final = probe.statistics()  # kept from stop(): still answers once everything is freed
    assert final.load_seconds > 0 and final.produced >= running.produced
    assert probe.statistics() == final
    assert _wait_gone(ids) == {"prog": set(), "map": set(), "link": set()}
    with pytest.raises(ProbeError):
        probe.read_events()


def test_failed_start_leaves_nothing(tmp_path: Path) -> None:
    """A load that fails after libbpf created the maps (it creates them before it loads the
    programs; here one program's tracepoint does not exist) must leave none of them."""
    source = tmp_path / "bst-test-bad.bpf.c"
    source.write_text(
        Path(SOURCE).read_text()
        + "\nstruct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);"
        ' __type(key, __u32); __type(value, __u64); } bst_test_mark SEC(".maps");\n'
        'SEC("tp_btf/bst_test_no_such_tracepoint")\n'
        "int BPF_PROG(bst_test_bad) { __u32 k = 0; bpf_map_lookup_elem(&bst_test_mark, &k);"
        " return 0; }\n"
    )
    obj = tmp_path / "bst-test-bad.bpf.o"
    build_probe()  # makes the cache's vmlinux.h
    flags = ["-O2", "-g", "-target", "bpf", "-D__TARGET_ARCH_x86", "-I", CACHE_DIR]
    include = ["-I", os.path.dirname(SOURCE)]
    subprocess.run(["clang", *flags, *include, "-c", str(source), "-o", str(obj)], check=True)
    probe = Probe(object_path=str(obj))
    with pytest.raises(ProbeLoadError) as info:
        probe.start()
    assert info.value.reference == "probe-load-failed"
    assert info.value.where == str(obj)
    assert "bst_test_no_such_tracepoint" in info.value.message
    with pytest.raises(ProbeError):
        probe.poll(0)
    assert "bst_test_mark" not in _bpftool_names("map")
    garbage = tmp_path / "bst-test-garbage.bpf.o"
    garbage.write_bytes(b"\x7fELF not really")
    with pytest.raises(ProbeLoadError):
        Probe(object_path=str(garbage)).start()


def _bpftool_names(kind: str) -> set[str]:
    out = subprocess.run(
        ["bpftool", "-j", kind, "list"], capture_output=True, text=True, check=True
    )
    return {str(item.get("name", "")) for item in json.loads(out.stdout or "[]")}


def test_bad_configuration_is_a_clear_error() -> None:
    with pytest.raises(ProbeError) as info:
        Probe(events=["openat", "bst-test-no-such-event"])
    assert "bst-test-no-such-event" in info.value.message
    with pytest.raises(ProbeError):
        Probe(ring_size=3 * 4096)


def test_drop_accounting_is_exact_on_a_small_ring() -> None:
    own = _own_cgroup_id()
    with Probe(ring_size=4096, events=["openat", "close"], cgroup_ids=[own]) as probe:
        _run("import os\nfor _ in range(3000):\n    os.close(os.open('/dev/null', os.O_RDONLY))")
        probe.set_cgroups([0])  # no cgroup has id 0: from now on nothing is produced
        os.close(os.open("/dev/null", os.O_RDONLY))  # skipped, and counted as such
        time.sleep(0.2)  # let an event already past the filter on another CPU land
        read = len(probe.read_raw(1 << 20))
        while batch := probe.read_raw(1 << 20):
            read += len(batch)
        stats = probe.statistics()
    assert stats.dropped_ring_full > 0
    assert stats.read == read
    assert stats.produced == stats.read + stats.dropped_ring_full
    assert stats.skipped_cgroup > 0


def test_drop_failed_and_live_event_selection(tmp_path: Path) -> None:
    missing = str(tmp_path / "bst-test-missing")
    code = f"import os\ntry:\n    os.open({missing!r}, os.O_RDONLY)\nexcept OSError:\n    pass"
    with Probe(events=["openat"], drop_failed=True) as probe:
        _, events = _child_pid_events(probe, code)
        assert events and all(e.res is None or e.res >= 0 for e in events)
        assert not [e for e in events if e.params.get("name") == missing]
        assert probe.statistics().skipped_failed > 0
        assert {e.type for e in events} <= {"openat", "clone", "execve", "procexit"}
        probe.set_events(["mkdir"])
        _, events = _child_pid_events(probe, f"import os\nos.mkdir({missing!r})")
        assert "openat" not in {e.type for e in events}
        assert [e.params["path"] for e in events if e.type == "mkdir"] == [missing]
        assert probe.statistics().skipped_syscall > 0


def test_container_events_carry_its_cgroup_and_the_filter_keeps_only_them(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    # `; true` keeps sh from exec-ing cat in place: cat is forked, inside the pid namespace.
    bundle = bundle_factory(args=["sh", "-c", "cat /etc/hostname > /dev/null; true"])
    runc("create", "--bundle", bundle, container_id, check=True)
    with open(os.path.join(runc.root, container_id, "identity.json")) as f:
        identity = ContainerIdentity.from_dict(json.load(f))
    assert identity.cgroup_ids
    ids = set(identity.cgroup_ids)
    with Probe(cgroup_ids=ids) as probe:
        host_pid, host_events = _child_pid_events_unfiltered(probe)
        runc("start", container_id, check=True)
        events = _collect(
            probe,
            lambda e: e.type == "openat" and e.params.get("name") == "/etc/hostname",
        )
        stats = probe.statistics()
    runc.wait_status(container_id, "stopped")
    runc("delete", container_id, check=True)
    assert not host_events, f"host pid {host_pid} got through the cgroup filter"
    assert events and {e.cgroup_id for e in events} <= ids
    opened = events[-1]
    assert opened.cgroup_id in ids and opened.res is not None and opened.res >= 0
    execs = [e for e in events if e.type == "execve" and e.params.get("comm") == "sh"]
    assert execs and execs[0].cgroup_id in ids
    cat = next(e for e in events if e.type == "clone" and e.tid == opened.tid)
    # Host ids in the header and tid/pid, the container's own pid namespace in vtid/vpid.
    assert (cat.params["tid"], cat.params["pid"]) == (opened.tid, opened.pid)
    assert cat.params["vtid"] == cat.params["vpid"]
    assert 1 < cat.params["vpid"] != cat.params["pid"]  # type: ignore[operator]
    assert stats.skipped_cgroup > 0


def _child_pid_events_unfiltered(probe: Probe) -> tuple[int, list[Event]]:
    """A host child runs while the filter is on: none of its events may be read."""
    child = subprocess.Popen([sys.executable, "-S", "-c", "open('/etc/hostname').close()"])
    assert child.wait(timeout=30) == 0
    time.sleep(0.2)
    return child.pid, [e for e in _drain(probe) if e.pid == child.pid]


def test_an_exec_wakes_a_reader_waiting_on_the_critical_ring() -> None:
    # the critical ring submits with the kernel's adaptive wakeup (the bulk ring does not): a
    # reader that has caught up and waits on its epoll is woken by the next exec, instead of
    # finding it at the end of its 5 ms polling step (the alert latency's main share)
    with Probe(events=["openat"]) as probe:
        ring = probe.critical_ring
        ring.wait(0)  # registers the epoll (ready at once if a record is pending)
        _drain(probe)  # caught up: the next critical record is the first past the consumer
        subprocess.run(["/bin/true"], check=True)
        assert ring.wait(10.0), "no wakeup: was the critical ring built with BPF_RB_NO_WAKEUP?"
        assert any(e.type == "execve" for e in _drain(probe))
