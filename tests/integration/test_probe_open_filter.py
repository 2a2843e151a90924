"""The probe's open filter on the real kernel: exactly the eligible opens (and their closes)
are kept back, and counted by class.

A child does every kind of open the filter must tell apart, printing each fd; the test reads
its events and checks which ones came through. The classes are given directly (what the rules
allow is `sensor.kernel_filter`'s business, tested in tests/unit/sensor/test_kernel_filter.py).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import pytest
from tests.integration.test_probe_events import collect, python

from bastion.sensor.kernel_filter import DENY_MASK
from bastion.sensor.probe import OpenFilter, Probe
from bastion.sensor.probe.loader import FILTERED_CLOSES

pytestmark = [pytest.mark.privileged, pytest.mark.bpf]

CLASSES = (("/dev/null", True), ("/proc/self/", False), ("/usr/lib/", False))

CHILD = """
import json, os, sys
fds = {}
def opened(key, path, flags=os.O_RDONLY):
    fds[key] = os.open(path, flags)
opened("null", "/dev/null")                       # kept back, and its close
opened("null_write", "/dev/null", os.O_WRONLY)    # a write: sent
opened("stat", "/proc/self/stat")                 # kept back
opened("ns", "/proc/self/ns/net")                 # a namespace file: sent
pidfd = os.pidfd_open(os.getpid())
opened("pidfd", f"/proc/self/fd/{pidfd}")         # a pidfd reopened by path: sent
opened("dir", "/usr/lib")                         # a directory: sent
opened("dot", "/usr/lib/.")                       # holds "/.": sent
opened("dots", sys.argv[1])                       # holds "..": sent
os.chdir("/usr/lib")
opened("relative", "os-release")                  # relative: sent
kept = os.open("/dev/null", os.O_RDONLY)          # kept back; a child closes its copy
child = os.fork()
if child == 0:
    os.close(kept)                                # not this process's fd to forget: sent
    os._exit(0)
os.waitpid(child, 0)
os.close(kept)                                    # kept back
for fd in fds.values():
    os.close(fd)
print(json.dumps({"fds": fds, "kept": kept, "child": child}))
"""


@pytest.fixture(scope="module")
def probe() -> Iterator[Probe]:
    opens = OpenFilter(CLASSES, DENY_MASK, closes=True)
    with Probe(events=["openat", "close"], open_filter=opens) as p:
        yield p


def test_only_eligible_opens_and_their_closes_are_kept_back(probe: Probe) -> None:
    if not os.path.exists("/usr/lib/os-release"):
        pytest.skip("needs /usr/lib/os-release")
    before = probe.filtered()
    proc = subprocess.Popen(
        [*python(CHILD), "/usr/lib/../lib/os-release"], stdout=subprocess.PIPE, text=True
    )
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    pid = proc.pid
    events = collect(probe, lambda e: True, lambda e: e.type == "procexit" and e.tid == pid)
    report = json.loads(out)
    fds, kept, child = report["fds"], report["kept"], report["child"]
    opened = [str(e.params["name"]) for e in events if e.type == "openat" and e.pid == pid]
    sent = ["/proc/self/ns/net", "/usr/lib", "/usr/lib/.", "/usr/lib/../lib/os-release"]
    for name in [*sent, "os-release"]:
        assert name in opened, (name, opened)
    assert any(n.startswith("/proc/self/fd/") for n in opened), opened  # the pidfd's reopen
    assert opened.count("/dev/null") == 1  # the write only
    assert "/proc/self/stat" not in opened
    # after the last open (the relative one), the parent closes: the kept-back fd (its close
    # kept back too), then each fd of `fds` in order, kept-back ones left out
    mine = [e for e in events if e.pid == pid and e.type in ("openat", "close")]
    last_open = max(i for i, e in enumerate(mine) if e.params.get("name") == "os-release")
    closed = [e.params["fd"] for e in mine[last_open + 1 :] if e.type == "close"]
    expected = ("null_write", "ns", "pidfd", "dir", "dot", "dots", "relative")
    assert closed == [fds[key] for key in expected], (closed, fds, kept)
    # the forked child's close of its copy: its process never had the open kept back
    assert [e.params["fd"] for e in events if e.type == "close" and e.pid == child] == [kept]
    after = probe.filtered()
    grew = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert grew["/dev/null"] >= 2 and grew["/proc/self/*"] >= 1
    assert grew[FILTERED_CLOSES] >= 3
    assert probe.statistics().filtered == sum(after.values())


THREADS_AND_HIGH_FDS = """
import json, os, resource, threading
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard != resource.RLIM_INFINITY and hard < 1100:
    hard = 1100
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1100), hard))
marker = os.open("/dev/null", os.O_WRONLY)       # sent: the closes after it are the test's
box = {}
opener = threading.Thread(target=lambda: box.update(fd=os.open("/dev/null", os.O_RDONLY)))
opener.start()
opener.join()
os.close(box["fd"])                              # another thread's open, kept back: so is this
many = [os.open("/dev/null", os.O_RDONLY) for _ in range(1030)]  # the last ones past 1023
for fd in many:
    os.close(fd)                                 # kept back below 1024, sent from 1024 on
os.close(marker)
print(json.dumps({"marker": marker, "high": [fd for fd in many if fd >= 1024]}))
"""


def test_marks_are_per_process_and_bounded(probe: Probe) -> None:
    """A kept-back open's fd is marked for its whole process (a thread's open, another
    thread's close: both kept back); an fd past the bitmap (1024) has its close sent."""
    before = probe.filtered()
    proc = subprocess.Popen(python(THREADS_AND_HIGH_FDS), stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    pid = proc.pid
    events = collect(probe, lambda e: True, lambda e: e.type == "procexit" and e.tid == pid)
    report = json.loads(out)
    mine = [e for e in events if e.pid == pid and e.type in ("openat", "close")]
    start = next(i for i, e in enumerate(mine) if e.params.get("name") == "/dev/null")
    assert mine[start].params["fd"] == report["marker"]  # the write-only open: sent
    assert not [e for e in mine[start + 1 :] if e.type == "openat"]  # every read-only one kept
    closed = [e.params["fd"] for e in mine[start + 1 :] if e.type == "close"]
    assert report["high"], "the child reached no fd past 1023"
    assert closed == [*report["high"], report["marker"]], closed
    after = probe.filtered()
    assert after["/dev/null"] - before.get("/dev/null", 0) >= 1031
    assert after[FILTERED_CLOSES] - before.get(FILTERED_CLOSES, 0) >= 1031 - len(report["high"])
