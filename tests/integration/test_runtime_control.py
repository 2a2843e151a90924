"""pause, resume, update, events and ps on real containers, proven by what the processes do.

Containers write progress into their rootfs (a real directory of the bundle, `readonly=False`),
which the test reads from the host: a paused writer stops writing; after `update` the forks that
failed succeed, an allocation that fitted is OOM-killed, a spinning process gets less CPU.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from bastion_testing.helper import PATH_IN_ROOTFS as HELPER
from bastion_testing.helper import parse
from bastion_testing.runc import error_line, wait_no_leftovers

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from bastion_testing.plugin import BundleFactory
    from bastion_testing.runc import Runc

pytestmark = pytest.mark.privileged

MIB = 1 << 20
SIGKILL_STATUS = 128 + 9
INVALID_STATE = 4
INVALID_INPUT = 5
WRITER = "while :; do echo x >> /tmp/f; sleep 0.05; done"
#: Waits until the test creates /tmp/go in the rootfs.
WAIT_GO = "while [ ! -e /tmp/go ]; do sleep 0.05; done"
#: Three processes: busybox sh would exec a last plain command, `wait` keeps the shell.
THREE = "sleep 60 & sleep 60 & wait"


def _edit(path: str, value: Any) -> dict[str, Any]:
    return {path: value}


def _in_rootfs(bundle: str, name: str) -> str:
    return os.path.join(bundle, "rootfs", "tmp", name)


def _text(bundle: str, name: str) -> str:
    try:
        with open(_in_rootfs(bundle, name)) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _size(bundle: str, name: str) -> int:
    try:
        return os.path.getsize(_in_rootfs(bundle, name))
    except FileNotFoundError:
        return 0


def _wait_until(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _wait_text(bundle: str, name: str, needle: str, timeout: float = 20) -> str:
    _wait_until(lambda: needle in _text(bundle, name), f"{needle!r} in /tmp/{name}", timeout)
    return _text(bundle, name)


def _go(bundle: str) -> None:
    with open(_in_rootfs(bundle, "go"), "w"):
        pass


@pytest.fixture
def start(runc: Runc, bundle_factory: BundleFactory, container_id: str) -> Iterator[Any]:
    """`start(script, **edits)`: run `sh -c script` detached in a writable rootfs; the bundle.

    Afterwards the container is force-deleted and must leave nothing behind.
    """
    made: list[str] = []

    def starter(script: str, **edits: Any) -> str:
        bundle = bundle_factory(args=["sh", "-c", script], readonly=False, **edits)
        made.append(bundle)
        runc("run", "--detach", "--bundle", bundle, container_id, check=True)
        return bundle

    yield starter
    runc("delete", "--force", container_id)
    for bundle in made:
        assert wait_no_leftovers(runc.root, container_id, bundle) == []


class Events:
    """A running `bastion-runc events`, its JSON lines read by a thread."""

    def __init__(self, runc: Runc, *args: str) -> None:
        self.proc = subprocess.Popen(
            runc.argv("events", *args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self.stderr = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), json.loads(line)))

    def next(self, timeout: float = 10) -> tuple[float, dict[str, Any]]:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event within {timeout} s") from None

    def next_of(self, kind: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            _, event = self.next(max(0.1, deadline - time.monotonic()))
            if event["type"] == kind:
                return event

    def stop(self) -> int:
        """SIGINT it (unless it ended) and return its exit status; closes its pipes."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(timeout=10)
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code


# --- pause, resume ----------------------------------------------------------------------------


def test_pause_freezes_and_resume_thaws(start: Any, runc: Runc, container_id: str) -> None:
    bundle = start(WRITER)
    _wait_until(lambda: _size(bundle, "f") >= 6, "the writer to write")
    runc("pause", container_id, check=True)
    assert runc.state(container_id)["status"] == "paused"
    assert [c["status"] for c in runc.list() if c["id"] == container_id] == ["paused"]
    frozen_size = _size(bundle, "f")
    time.sleep(0.6)  # a dozen writes' worth
    assert _size(bundle, "f") == frozen_size
    runc("resume", container_id, check=True)
    assert runc.state(container_id)["status"] == "running"
    _wait_until(lambda: _size(bundle, "f") >= frozen_size + 6, "the writer to write again", 5)


def test_pause_twice_and_resume_of_running_are_invalid_state(
    start: Any, runc: Runc, container_id: str
) -> None:
    start(WRITER)
    resumed = runc("resume", container_id)
    assert resumed.returncode == INVALID_STATE, resumed
    assert "invalid-state" in error_line(resumed.stderr)
    runc("pause", container_id, check=True)
    again = runc("pause", container_id)
    assert again.returncode == INVALID_STATE, again
    assert "paused" in error_line(again.stderr)


def test_pause_of_stopped_container_is_invalid_state(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=["true"])
    runc("run", "--detach", "--bundle", bundle, container_id, check=True)
    runc.wait_status(container_id, "stopped")
    for verb in ("pause", "resume"):
        result = runc(verb, container_id)
        assert result.returncode == INVALID_STATE, result
        line = error_line(result.stderr)
        assert "invalid-state" in line
        assert "container not running" in line
    runc("delete", container_id, check=True)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


def test_unknown_container(runc: Runc) -> None:
    for argv in (["pause"], ["resume"], ["update", "--pids-limit", "5"], ["events"], ["ps"]):
        result = runc(*argv, "bst-test-no-such-container")
        assert result.returncode == 3, result
        assert "container-not-found" in error_line(result.stderr)


def test_kill_all_sigkill_of_paused_container(start: Any, runc: Runc, container_id: str) -> None:
    # The host's pid namespace: SIGKILL to the init alone would leave the two sleeps alive, so
    # this proves every frozen process got the signal (and was thawed to act on it).
    namespaces = [{"type": t} for t in ("network", "ipc", "uts", "mount", "cgroup")]
    start(THREE, linux__namespaces=namespaces)
    deadline = time.monotonic() + 20
    while len(pids := json.loads(runc("ps", "-f", "json", container_id, check=True).stdout)) < 3:
        assert time.monotonic() < deadline, pids
        time.sleep(0.02)
    runc("pause", container_id, check=True)
    runc("kill", "--all", container_id, "KILL", check=True)
    runc.wait_status(container_id, "stopped", timeout=5)
    _wait_until(lambda: not any(_alive(p) for p in pids), f"{pids} to die", timeout=5)


def test_kill_all_of_stopped_container_ends_what_its_init_left(
    start: Any, bundle_factory: BundleFactory, runc: Runc, container_id: str
) -> None:
    # As in a pod sharing one pid namespace: the init exits and its child lives on in the
    # container's cgroup. containerd's shim sends `kill --all ID 9` after every exit; runc
    # signals what is left (rc 0) where a refusal ("container not running") would keep it alive.
    namespaces = [{"type": t} for t in ("network", "ipc", "uts", "mount", "cgroup")]
    bundle = start("sleep 60 & echo $! > /tmp/child", linux__namespaces=namespaces)
    child = int(_wait_text(bundle, "child", "\n"))
    runc.wait_status(container_id, "stopped", timeout=10)
    assert _alive(child)
    plain = runc("kill", container_id, "KILL")
    assert plain.returncode == INVALID_STATE, plain
    assert "container not running" in plain.stderr
    runc("kill", "--all", container_id, "KILL", check=True)
    _wait_until(lambda: not _alive(child), f"the init's child {child} to die", timeout=5)
    # Nothing left, and no cgroup: still a success, as runc's.
    runc("delete", container_id, check=True)
    runc("run", "--detach", "--bundle", bundle_factory(args=["true"]), container_id, check=True)
    runc.wait_status(container_id, "stopped", timeout=10)
    runc("kill", "--all", container_id, "KILL", check=True)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_kill_sigkill_of_paused_container(start: Any, runc: Runc, container_id: str) -> None:
    start(WRITER)
    runc("pause", container_id, check=True)
    runc("kill", container_id, "KILL", check=True)
    runc.wait_status(container_id, "stopped", timeout=3)


def test_delete_force_of_paused_container(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=["sh", "-c", THREE])
    runc("run", "--detach", "--bundle", bundle, container_id, check=True)
    runc("pause", container_id, check=True)
    refused = runc("delete", container_id)
    assert refused.returncode == INVALID_STATE, refused
    runc("delete", "--force", container_id, check=True)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


def test_paused_created_container_resumes_to_created(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=["true"])
    runc("create", "--bundle", bundle, container_id, check=True)
    runc("pause", container_id, check=True)
    runc("resume", container_id, check=True)
    assert runc.state(container_id)["status"] == "created"
    runc("delete", container_id, check=True)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


def test_paused_created_container_shows_paused(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=["true"])
    runc("create", "--bundle", bundle, container_id, check=True)
    try:
        runc("pause", container_id, check=True)
        assert runc.state(container_id)["status"] == "paused"
    finally:
        runc("delete", "--force", container_id)
        assert wait_no_leftovers(runc.root, container_id, bundle) == []


# --- update -----------------------------------------------------------------------------------


def test_update_pids_limit_lets_failed_forks_succeed(
    start: Any, runc: Runc, container_id: str
) -> None:
    script = f"{HELPER} fork 20 1 > /tmp/before; {WAIT_GO}; {HELPER} fork 20 1 > /tmp/after"
    bundle = start(f"{script}; sleep 60", **_edit("linux.resources.pids", {"limit": 8}))
    before = parse(_wait_text(bundle, "before", "forked="))
    assert int(before["failed"]) > 0, before
    runc("update", "--pids-limit", "64", container_id, check=True)
    _go(bundle)
    after = parse(_wait_text(bundle, "after", "forked="))
    assert (after["forked"], after["failed"]) == ("20", "0"), after


def test_update_memory_makes_a_fitting_allocation_oom(
    start: Any, runc: Runc, container_id: str
) -> None:
    alloc = f"{HELPER} alloc 100"
    script = f"{alloc} > /tmp/before; echo rc=$? >> /tmp/before; {WAIT_GO}; "
    script += f"{alloc} > /tmp/after; echo rc=$? >> /tmp/after; sleep 60"
    bundle = start(script)
    before = parse(_wait_text(bundle, "before", "rc="))
    assert (before["alloc"], before["rc"]) == ("ok", "0"), before
    runc("update", "--memory", "32m", "--memory-swap", "32M", container_id, check=True)
    _go(bundle)
    after = _wait_text(bundle, "after", "rc=")
    assert parse(after)["rc"] == str(SIGKILL_STATUS), after
    assert "alloc=ok" not in after
    # The shell (the init) lives on: only the allocator was killed.
    assert runc.state(container_id)["status"] == "running"


def test_update_cpu_quota_gives_less_cpu(start: Any, runc: Runc, container_id: str) -> None:
    spin = f"{HELPER} spin 1.5"
    bundle = start(f"{spin} > /tmp/before; {WAIT_GO}; {spin} > /tmp/after; sleep 60")
    before = parse(_wait_text(bundle, "before", "cpu="))
    runc("update", "--cpu-quota", "25000", "--cpu-period", "100000", container_id, check=True)
    _go(bundle)
    after = parse(_wait_text(bundle, "after", "cpu="))
    ratio_before = float(before["cpu"]) / float(before["wall"])
    ratio_after = float(after["cpu"]) / float(after["wall"])
    # 25 ms per 100 ms period: at most a quarter of a CPU (a loaded host can only lower both).
    assert ratio_after <= 0.35, (before, after)
    assert ratio_after < ratio_before, (before, after)
    stats = json.loads(runc("events", "--stats", container_id, check=True).stdout)["data"]
    assert stats["cpu"]["throttling"]["throttled_periods"] > 0, stats


def test_updates_merge_and_show_in_stats(start: Any, runc: Runc, container_id: str) -> None:
    start(THREE, **_edit("linux.resources", {"pids": {"limit": 16}, "cpu": {"shares": 512}}))
    runc("update", "--pids-limit", "64", container_id, check=True)
    runc("update", "--memory", "64m", "--memory-swap", "64m", container_id, check=True)
    data = json.loads(runc("events", "--stats", container_id, check=True).stdout)["data"]
    assert data["pids"]["limit"] == 64
    assert data["memory"]["usage"]["limit"] == 64 * MIB
    # What the next update merges over: the config's resources with both updates on top.
    with open(os.path.join(runc.root, container_id, "resources.json")) as f:
        stored = json.load(f)
    assert stored["pids"] == {"limit": 64}
    assert stored["memory"] == {"limit": 64 * MIB, "swap": 64 * MIB}
    assert stored["cpu"] == {"shares": 512}


def test_update_resources_from_stdin_and_file(
    start: Any, runc: Runc, container_id: str, tmp_path: Any
) -> None:
    start(THREE)
    document = {"pids": {"limit": 40}, "memory": {"limit": 48 * MIB, "swap": 48 * MIB}}
    result = subprocess.run(
        runc.argv("update", "--resources", "-", container_id),
        input=json.dumps(document),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result
    data = json.loads(runc("events", "--stats", container_id, check=True).stdout)["data"]
    assert (data["pids"]["limit"], data["memory"]["usage"]["limit"]) == (40, 48 * MIB)
    path = tmp_path / "resources.json"
    path.write_text(json.dumps({"pids": {"limit": 41}}))
    runc("update", "-r", str(path), container_id, check=True)
    data = json.loads(runc("events", "--stats", container_id, check=True).stdout)["data"]
    assert (data["pids"]["limit"], data["memory"]["usage"]["limit"]) == (41, 48 * MIB)


def test_update_kernel_memory_warns(start: Any, runc: Runc, container_id: str) -> None:
    start(THREE)
    result = runc("update", "--kernel-memory", "64m", container_id)
    assert result.returncode == 0, result
    assert "Kernel memory settings are ignored" in result.stderr


@pytest.mark.parametrize(
    ("content", "where", "reference"),
    [
        ("{not json", "resources.json:1:2", "spec-not-json"),
        ('{"memory": {"limit": "64m"}}', "resources.memory.limit", "spec-wrong-type"),
        ('{"pids": {"limit": true}}', "resources.pids.limit", "spec-wrong-type"),
    ],
)
def test_update_bad_resources_file(
    start: Any,
    runc: Runc,
    container_id: str,
    tmp_path: Any,
    content: str,
    where: str,
    reference: str,
) -> None:
    start(THREE)
    path = tmp_path / "resources.json"
    path.write_text(content)
    result = runc("update", "--resources", str(path), container_id)
    assert result.returncode == INVALID_INPUT, result
    line = error_line(result.stderr)
    assert reference in line
    assert where in line


def test_update_refusals(start: Any, runc: Runc, container_id: str) -> None:
    start(THREE)
    for argv, expected in (
        (["--l3-cache-schema", "L3:0=f"], "intel-rdt-unsupported"),
        (["--mem-bw-schema", "MB:0=50"], "intel-rdt-unsupported"),
        (["--memory", "lots"], "usage"),
        (["--resources", "/nonexistent-bst-test.json"], "spec-unreadable"),
    ):
        result = runc("update", *argv, container_id)
        assert result.returncode != 0, result
        assert expected in error_line(result.stderr), argv


def test_update_of_stopped_container_is_invalid_state(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=["true"])
    runc("run", "--detach", "--bundle", bundle, container_id, check=True)
    runc.wait_status(container_id, "stopped")
    result = runc("update", "--pids-limit", "10", container_id)
    assert result.returncode == INVALID_STATE, result
    assert "invalid-state" in error_line(result.stderr)
    runc("delete", container_id, check=True)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


# --- events -----------------------------------------------------------------------------------


def test_events_stats(start: Any, runc: Runc, container_id: str) -> None:
    limits = {"pids": {"limit": 32}, "memory": {"limit": 64 * MIB, "swap": 64 * MIB}}
    start(THREE, **_edit("linux.resources", limits))
    result = runc("events", "--stats", container_id, check=True)
    assert len(result.stdout.splitlines()) == 1
    event = json.loads(result.stdout)
    assert (event["type"], event["id"]) == ("stats", container_id)
    data = event["data"]
    assert set(data) == {"cpu", "memory", "pids"}
    assert data["cpu"]["usage"]["total"] > 0
    assert data["memory"]["usage"]["usage"] > 0
    assert data["memory"]["usage"]["max"] >= data["memory"]["usage"]["usage"]
    assert data["memory"]["usage"]["limit"] == 64 * MIB
    assert data["pids"] == {"current": 3, "limit": 32}


def test_events_streams_every_interval(start: Any, runc: Runc, container_id: str) -> None:
    start(THREE)
    events = Events(runc, "--interval", "1s", container_id)
    try:
        t1, first = events.next()
        t2, second = events.next()
    finally:
        code = events.stop()
    assert code == 0
    assert [first["type"], second["type"]] == ["stats", "stats"]
    assert first["id"] == second["id"] == container_id
    assert second["data"]["pids"]["current"] == 3
    assert 0.7 <= t2 - t1 <= 1.5, t2 - t1


def test_events_end_when_the_container_stops(start: Any, runc: Runc, container_id: str) -> None:
    start("sleep 1.5")
    events = Events(runc, "--interval", "500ms", container_id)
    assert events.proc.wait(timeout=10) == 0
    events.stop()
    assert events.next()[1]["type"] == "stats"


def test_events_report_oom(start: Any, runc: Runc, container_id: str) -> None:
    memory = {"limit": 32 * MIB, "swap": 32 * MIB}
    bundle = start(
        f"{WAIT_GO}; {HELPER} alloc 100; sleep 60", **_edit("linux.resources.memory", memory)
    )
    events = Events(runc, "--interval", "500ms", container_id)
    try:
        events.next_of("stats")  # the stream runs, so it has counted the OOM kills before
        _go(bundle)
        assert events.next_of("oom") == {"type": "oom", "id": container_id}
    finally:
        assert events.stop() == 0


def test_events_of_stopped_container_is_invalid_state(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=["true"])
    runc("run", "--detach", "--bundle", bundle, container_id, check=True)
    runc.wait_status(container_id, "stopped")
    for argv in (["--stats"], ["--interval", "1s"]):
        result = runc("events", *argv, container_id)
        assert result.returncode == INVALID_STATE, result
        assert "invalid-state" in error_line(result.stderr)
    bad = runc("events", "--interval", "0s", container_id)
    assert bad.returncode == 2, bad
    runc("delete", container_id, check=True)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


# --- ps ---------------------------------------------------------------------------------------


def test_ps_json_lists_the_cgroup(start: Any, runc: Runc, container_id: str) -> None:
    start(THREE)
    _wait_until(
        lambda: len(json.loads(runc("ps", "-f", "json", container_id, check=True).stdout)) >= 3,
        "three processes",
    )
    pids = json.loads(runc("ps", "--format", "json", container_id, check=True).stdout)
    assert len(pids) == 3, pids
    assert runc.state(container_id)["pid"] in pids
    names = set()
    for pid in pids:
        with open(f"/proc/{pid}/comm") as f:
            names.add(f.read().strip())
    assert names == {"sh", "sleep"}


def test_ps_table(start: Any, runc: Runc, container_id: str) -> None:
    start(THREE)
    _wait_until(
        lambda: len(json.loads(runc("ps", "-f", "json", container_id, check=True).stdout)) >= 3,
        "three processes",
    )
    pids = set(json.loads(runc("ps", "-f", "json", container_id, check=True).stdout))
    lines = runc("ps", container_id, check=True).stdout.splitlines()
    header = lines[0].split()
    assert "PID" in header
    assert {int(line.split()[header.index("PID")]) for line in lines[1:]} == pids
    for argv in (["-o", "pid,comm"], ["--", "-o", "pid,comm"]):
        table = runc("ps", container_id, *argv, check=True).stdout.splitlines()
        assert table[0].split() == ["PID", "COMMAND"]
        assert sorted(line.split()[1] for line in table[1:]) == ["sh", "sleep", "sleep"]
    no_pid = runc("ps", container_id, "-o", "comm")
    assert no_pid.returncode != 0
    assert "ps-failed" in error_line(no_pid.stderr)
