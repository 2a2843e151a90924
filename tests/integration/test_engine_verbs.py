"""The engine's container and system verbs through the `bastion` CLI: stats, top,
pause/unpause, cp (both ways, a running and a stopped container, a symlink out of the root),
rename, logs --timestamps/--since/--until, log rotation, container/system prune, df, info,
version; and the repair of a `bastion run` killed at each step (`system prune`).

The rig (`bastion_testing.engine.engine_rig`) gives a private engine root, a registry on
127.0.0.1 and cgroups under `/bastion-test/bst-test-engine-*`; its teardown checks that no
container, overlay mount, conmon or cgroup is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from bastion_testing.engine import (
    VOLATILE,
    Bastion,
    cgroup_dirs,
    conmons,
    engine_rig,
    mounts_under,
    overlay_options_under,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-engverbs-") as b:
        yield b


def _until(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _cgroup_pids(cid: str) -> set[int]:
    """The processes whose /proc/PID/cgroup names the container: the kernel's word."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cgroup") as f:
                if f"/{cid}\n" in f.read():
                    found.add(int(entry))
        except OSError:
            continue
    return found


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _pid(bastion: Bastion, name: str) -> int:
    state = bastion.inspect(name)["State"]
    assert isinstance(state, dict)
    return int(state["Pid"])


def test_stats_shows_the_memory_limit_and_the_pids(bastion: Bastion) -> None:
    argv = ("sh", "-c", "sleep 1000 & sleep 1000 & while :; do :; done")
    cid = bastion.ok("run", "-d", "--name", "stats", "-m", "48m", bastion.image, *argv).strip()
    try:
        _until(lambda: len(_cgroup_pids(cid)) == 3, "three processes")
        (doc,) = [
            json.loads(line)
            for line in bastion.ok("stats", "--no-stream", "--format", "json", "stats").splitlines()
        ]
        assert doc["MemoryLimit"] == 48 * 1024 * 1024
        assert doc["MemUsage"].endswith(" / 48MiB")
        assert doc["PidsCurrent"] == len(_cgroup_pids(cid)) == 3
        assert doc["Name"] == "stats" and doc["ID"] == cid[:12]
        assert doc["CPUPercent"] > 0  # a busy loop used some CPU between the two samples
        table = bastion.ok("stats", "--no-stream", "stats").splitlines()
        assert table[0].split()[:3] == ["CONTAINER", "ID", "NAME"]
        assert table[1].split()[1] == "stats"
        refused = bastion("stats", "--no-stream", "nosuch")
        assert refused.returncode == 125 and "engine-no-such-container" in refused.stderr
    finally:
        bastion.ok("rm", "-f", cid)


def _memory_counters(bastion: Bastion, cid: str) -> tuple[int, int]:
    """(usage, inactive page cache) of the container's cgroup, read from the kernel's files:
    cgroup v1's memory controller, else the cgroup2 directory."""
    v1 = f"/sys/fs/cgroup/memory{bastion.cgroup_parent}/{cid}"
    if os.path.isdir(v1):
        stat = dict(line.split() for line in _read(f"{v1}/memory.stat").splitlines())
        return int(_read(f"{v1}/memory.usage_in_bytes")), int(stat["total_inactive_file"])
    v2 = f"/sys/fs/cgroup{bastion.cgroup_parent}/{cid}"
    stat = dict(line.split() for line in _read(f"{v2}/memory.stat").splitlines())
    return int(_read(f"{v2}/memory.current")), int(stat["inactive_file"])


def test_stats_leaves_the_page_cache_out_of_the_memory_usage(bastion: Bastion) -> None:
    # 32 MiB written to the container's upper dir: page cache charged to its cgroup, which
    # Docker's `stats` leaves out (usage - total_inactive_file on v1, - inactive_file on v2)
    script = (
        "dd if=/dev/zero of=/big bs=1M count=32 2>/dev/null && sync && touch /done && sleep 1000"
    )
    cid = bastion.ok("run", "-d", "-m", "256m", bastion.image, "sh", "-c", script).strip()
    try:
        _until(lambda: bastion("exec", cid, "test", "-e", "/done").returncode == 0, "the write")
        usage, cache = _memory_counters(bastion, cid)
        (doc,) = [
            json.loads(line)
            for line in bastion.ok("stats", "--no-stream", "--format", "json", cid).splitlines()
        ]
        assert cache >= 24 << 20, (usage, cache)  # the kernel's word: the file is cached
        assert usage - doc["MemoryUsage"] >= 24 << 20  # the cache is not in the figure
        # the same figure as the kernel's (within what a shell and `stats` change meanwhile)
        assert abs(doc["MemoryUsage"] - (usage - cache)) < 4 << 20
        assert doc["MemUsage"].endswith(" / 256MiB")
    finally:
        bastion.ok("rm", "-f", cid)


def test_top_lists_the_containers_processes_only(bastion: Bastion) -> None:
    cid = bastion.ok("run", "-d", bastion.image, "sleep", "1234").strip()
    try:
        rows = bastion.ok("top", cid).splitlines()
        assert rows[0].split()[:2] == ["UID", "PID"]
        assert [row.split()[1] for row in rows[1:]] == [str(_pid(bastion, cid))]
        assert "sleep 1234" in rows[1]
        custom = bastion.ok("top", cid, "-o", "pid,stat,comm").splitlines()
        assert custom[0].split() == ["PID", "STAT", "COMMAND"]
        assert custom[1].split()[2] == "sleep" and custom[1].split()[1].startswith("S")
    finally:
        bastion.ok("rm", "-f", cid)


def test_pause_freezes_and_unpause_resumes(bastion: Bastion) -> None:
    loop = "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done"
    cid = bastion.ok("run", "-d", bastion.image, "sh", "-c", loop).strip()
    counter = f"/proc/{_pid(bastion, cid)}/root/tmp/count"

    def count() -> int:
        try:
            with open(counter) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    freezer = [d for d in cgroup_dirs(f"{bastion.cgroup_parent}/{cid}") if "freezer" in d]
    try:
        _until(lambda: count() > 0, "the counter to start")
        bastion.ok("pause", cid)
        state = ""
        if freezer:
            with open(f"{freezer[0]}/freezer.state") as f:
                state = f.read().strip()
        assert state in ("FROZEN", "")  # v1: the freezer says so; v2 below, by the counter
        frozen = count()
        time.sleep(0.5)  # ten of its periods: a running loop would have counted on
        assert count() == frozen
        info = json.loads(bastion.ok("info", "--format", "json"))
        assert (info["ContainersPaused"], info["ContainersRunning"]) == (1, 0)
        state_doc = bastion.inspect(cid)["State"]
        assert isinstance(state_doc, dict)
        assert (state_doc["Status"], state_doc["Paused"]) == ("paused", True)
        (row,) = [json.loads(x) for x in bastion.ok("ps", "--format", "json").splitlines()]
        assert row["State"] == "paused" and row["Status"].endswith(" (Paused)")
        assert bastion("pause", cid).returncode == 125  # already paused
        bastion.ok("unpause", cid)
        _until(lambda: count() > frozen, "the counter to advance again")
        assert bastion("unpause", cid).returncode == 125  # not paused
    finally:
        bastion.ok("rm", "-f", cid)


def test_cp_both_ways_keeps_content_and_mode(bastion: Bastion, tmp_path: Path) -> None:
    work = str(tmp_path)
    source = os.path.join(work, "script.sh")
    with open(source, "w") as f:
        f.write("#!/bin/sh\necho copied in\n")
    os.chmod(source, 0o751)
    tree = os.path.join(work, "tree")
    os.makedirs(os.path.join(tree, "sub"))
    with open(os.path.join(tree, "sub", "file"), "w") as f:
        f.write("deep\n")
    os.chmod(os.path.join(tree, "sub"), 0o705)
    os.symlink("sub/file", os.path.join(tree, "link"))
    cid = bastion.ok("run", "-d", bastion.image, "sleep", "1000").strip()
    try:
        bastion.ok("cp", source, f"{cid}:/tmp/")
        bastion.ok("cp", tree, f"{cid}:/tmp/tree")
        root = f"/proc/{_pid(bastion, cid)}/root"
        inside = os.path.join(root, "tmp", "script.sh")
        assert _read(inside) == "#!/bin/sh\necho copied in\n"
        assert os.stat(inside).st_mode & 0o7777 == 0o751
        assert os.stat(f"{root}/tmp/tree/sub").st_mode & 0o7777 == 0o705
        assert os.readlink(f"{root}/tmp/tree/link") == "sub/file"
        # the container runs what was copied in
        assert bastion.ok("top", cid)  # still running
        # and back out: a file, and a directory into an existing directory
        out = os.path.join(work, "out")
        os.mkdir(out)
        bastion.ok("cp", f"{cid}:/tmp/script.sh", os.path.join(out, "back.sh"))
        assert _read(os.path.join(out, "back.sh")) == "#!/bin/sh\necho copied in\n"
        assert os.stat(os.path.join(out, "back.sh")).st_mode & 0o7777 == 0o751
        bastion.ok("cp", f"{cid}:/tmp/tree", out)
        assert _read(os.path.join(out, "tree", "sub", "file")) == "deep\n"
        assert os.readlink(os.path.join(out, "tree", "link")) == "sub/file"
        missing = bastion("cp", f"{cid}:/nonexistent", out)
        assert missing.returncode == 125 and "engine-copy" in missing.stderr
    finally:
        bastion.ok("rm", "-f", cid)


def test_cp_through_a_symlink_stays_inside_the_container(bastion: Bastion, tmp_path: Path) -> None:
    name = f"bst-test-engverbs-{os.getpid()}"
    source = os.path.join(str(tmp_path), name)
    with open(source, "w") as f:
        f.write("must not reach the host\n")
    argv = ("sh", "-c", "ln -s /etc /evil && ln -s ../../../../etc /tmp/up && sleep 1000")
    cid = bastion.ok("run", "-d", bastion.image, *argv).strip()
    root = f"/proc/{_pid(bastion, cid)}/root"
    try:
        _until(lambda: os.path.islink(f"{root}/tmp/up"), "the links")
        bastion.ok("cp", source, f"{cid}:/evil/{name}")
        bastion.ok("cp", source, f"{cid}:/tmp/up/{name}.2")
        assert not os.path.exists(f"/etc/{name}") and not os.path.exists(f"/etc/{name}.2")
        assert _read(f"{root}/etc/{name}") == "must not reach the host\n"
        assert os.path.exists(f"{root}/etc/{name}.2")
        # out: the link is copied as a link, never followed to the host's /etc
        out = os.path.join(str(tmp_path), "evil")
        bastion.ok("cp", f"{cid}:/evil", out)
        assert os.readlink(out) == "/etc"
        # a file named through the link is the container's
        bastion.ok("cp", f"{cid}:/evil/{name}", os.path.join(str(tmp_path), "read"))
        assert _read(os.path.join(str(tmp_path), "read")) == "must not reach the host\n"
    finally:
        for leftover in (f"/etc/{name}", f"/etc/{name}.2"):
            if os.path.exists(leftover):
                os.unlink(leftover)
        bastion.ok("rm", "-f", cid)


def test_cp_on_a_stopped_container_mounts_its_overlay(bastion: Bastion, tmp_path: Path) -> None:
    cid = bastion.ok("create", bastion.image, "cat", "/data/in").strip()
    try:
        source = os.path.join(str(tmp_path), "in")
        with open(source, "w") as f:
            f.write("from the host\n")
        os.chmod(source, 0o640)
        refused = bastion("cp", source, f"{cid}:/data/in")
        assert refused.returncode == 125 and "engine-copy" in refused.stderr  # no /data
        bastion.ok("cp", str(tmp_path), f"{cid}:/data")
        assert mounts_under(bastion.root) == []  # mounted for the copy only
        upper = os.path.join(bastion.root, "containers", cid, "fs", "upper", "data", "in")
        assert os.stat(upper).st_mode & 0o7777 == 0o640
        assert bastion.ok("start", cid) is not None
        assert bastion.ok("wait", cid).strip() == "0"
        assert bastion.ok("logs", cid) == "from the host\n"
        back = os.path.join(str(tmp_path), "passwd")
        bastion.ok("cp", f"{cid}:/etc/passwd", back)  # exited: from the image's layers
        assert _read(back).startswith("root:")
        assert mounts_under(bastion.root) == []
    finally:
        bastion.ok("rm", "-f", cid)


def test_rename(bastion: Bastion) -> None:
    cid = bastion.ok("create", "--name", "before", bastion.image, "true").strip()
    other = bastion.ok("create", "--name", "taken", bastion.image, "true").strip()
    try:
        bastion.ok("rename", "before", "after")
        names = {
            json.loads(x)["Names"] for x in bastion.ok("ps", "-a", "--format", "json").splitlines()
        }
        assert names == {"after", "taken"}
        assert bastion.inspect("after")["Id"] == cid
        taken = bastion("rename", "after", "taken")
        assert taken.returncode == 125 and "engine-name-in-use" in taken.stderr
        bad = bastion("rename", "after", "no/slash")
        assert bad.returncode == 125 and "engine-invalid-option" in bad.stderr
        # the next start carries the new name to the runtime's identity record
        bastion.ok("start", cid)
        bastion.ok("wait", cid)
        config = json.loads(_read(os.path.join(bastion.root, "containers", cid, "config.json")))
        assert config["annotations"]["bastion.name"] == "after"
        # a running container: the sensor's identity record follows at once
        running = bastion.ok("run", "-d", "--name", "live", bastion.image, "sleep", "100").strip()
        try:
            bastion.ok("rename", "live", "renamed")
            identity = os.path.join(bastion.runtime_root, running, "identity.json")
            assert json.loads(_read(identity))["name"] == "renamed"
            assert bastion.ok("ps", "--format", "json").count('"Names": "renamed"') == 1
        finally:
            bastion.ok("rm", "-f", running)
    finally:
        bastion.ok("rm", "-f", cid, other)


def test_port_prints_the_recorded_ports(bastion: Bastion) -> None:
    cid = bastion.ok("create", bastion.image, "true").strip()
    try:
        assert bastion.ok("port", cid) == ""
        db = sqlite3.connect(os.path.join(bastion.root, "bastion.db"))
        try:
            (config,) = db.execute("SELECT config FROM containers WHERE id = ?", (cid,)).fetchone()
            doc = json.loads(config)
            doc["ports"] = [
                {"container_port": 80, "protocol": "tcp", "host_ip": "0.0.0.0", "host_port": 8080},
                {"container_port": 53, "protocol": "udp", "host_ip": "::", "host_port": 5353},
            ]
            with db:
                db.execute("UPDATE containers SET config = ? WHERE id = ?", (json.dumps(doc), cid))
        finally:
            db.close()
        assert bastion.ok("port", cid) == "53/udp -> [::]:5353\n80/tcp -> 0.0.0.0:8080\n"
        assert bastion.ok("port", cid, "80") == "0.0.0.0:8080\n"
        assert bastion("port", cid, "81").returncode == 125
    finally:
        bastion.ok("rm", cid)


def test_logs_timestamps_since_until(bastion: Bastion) -> None:
    argv = ("sh", "-c", "echo one; sleep 0.2; echo two; sleep 0.2; echo three")
    cid = bastion.ok("run", "-d", bastion.image, *argv).strip()
    try:
        bastion.ok("wait", cid)
        stamped = bastion.ok("logs", "--timestamps", cid).splitlines()
        assert [line.split(" ", 1)[1] for line in stamped] == ["one", "two", "three"]
        times = [line.split(" ", 1)[0] for line in stamped]
        assert all(t.endswith("Z") or t[-6] in "+-" for t in times)  # RFC 3339
        assert bastion.ok("logs", "--since", times[1], cid) == "two\nthree\n"
        assert bastion.ok("logs", "--until", times[1], cid) == "one\n"
        assert bastion.ok("logs", "--since", times[1], "--until", times[2], cid) == "two\n"
        assert bastion.ok("logs", "--since", "1h", cid) == "one\ntwo\nthree\n"
        future = str(time.time() + 3600)
        assert bastion.ok("logs", "--since", future, cid) == ""
        bad = bastion("logs", "--since", "yesterday", cid)
        assert bad.returncode == 125 and "engine-invalid-option" in bad.stderr
    finally:
        bastion.ok("rm", cid)


def test_log_rotation_at_max_size(bastion: Bastion) -> None:
    script = "i=0; while [ $i -lt 3000 ]; do echo line-$i-padding-padding-padding; i=$((i+1)); done"
    cid = bastion.ok(
        "run", "-d", "--log-opt", "max-size=16k", bastion.image, "sh", "-c", script
    ).strip()
    try:
        assert bastion.ok("wait", cid).strip() == "0"
        log = os.path.join(bastion.root, "containers", cid, "ctr.log")
        assert os.path.getsize(log) <= 16 * 1024
        lines = bastion.ok("logs", cid).splitlines()
        assert lines[-1] == "line-2999-padding-padding-padding"
        assert 0 < len(lines) < 3000  # the early lines were rotated away
        refused = bastion("run", "--rm", "--log-opt", "max-file=3", bastion.image, "true")
        assert refused.returncode == 125 and "engine-invalid-option" in refused.stderr
    finally:
        bastion.ok("rm", cid)


def test_container_prune_keeps_running_ones(bastion: Bastion) -> None:
    running = bastion.ok("run", "-d", bastion.image, "sleep", "1000").strip()
    exited = bastion.ok("run", "-d", bastion.image, "true").strip()
    created = bastion.ok("create", bastion.image, "true").strip()
    try:
        bastion.ok("wait", exited)
        rows = {
            json.loads(line)["Type"]: json.loads(line)
            for line in bastion.ok("system", "df", "--format", "json").splitlines()
        }
        assert (rows["Containers"]["TotalCount"], rows["Containers"]["Active"]) == (3, 1)
        assert rows["Images"]["Active"] == 1 and rows["Images"]["Size"] > 0
        out = bastion.ok("container", "prune", "-f")
        assert out.startswith("Deleted Containers:\n")
        assert set(out.split()) >= {exited, created}
        assert bastion.ok("container", "ls", "-a", "-q", "--no-trunc").split() == [running]
        assert not os.path.exists(os.path.join(bastion.root, "containers", exited))
    finally:
        bastion.ok("rm", "-f", running)


def test_system_prune_all_removes_unused_images(bastion: Bastion) -> None:
    unique = bastion.image.replace("busybox:latest", "unique:1")
    bastion.ok("pull", "-q", unique)
    # a running container keeps its image (a stopped one is pruned first, then its image)
    keep = bastion.ok("run", "-d", bastion.image, "sleep", "1000").strip()
    try:
        asked = subprocess.run(
            bastion.argv("system", "prune", "-a"), input="n\n", capture_output=True, text=True
        )
        assert asked.returncode == 0 and "Are you sure" in asked.stderr
        assert len(bastion.ok("images", "-q").split()) == 2  # "n": nothing removed
        out = bastion.ok("system", "prune", "-a", "-f")
        assert "Deleted Images:" in out and "unique:1" in out and "Total reclaimed space" in out
        repositories = [
            json.loads(x)["Repository"]
            for x in bastion.ok("images", "--format", "json").splitlines()
        ]
        assert repositories == [bastion.image.rsplit(":", 1)[0]]  # a container was made from it
    finally:
        bastion("rm", "-f", keep)
    bastion.ok("pull", "-q", bastion.image)


def test_info_and_version(bastion: Bastion) -> None:
    info = json.loads(bastion.ok("info", "--format", "json"))
    assert info["DockerRootDir"] == bastion.root
    assert info["RuntimeRoot"] == bastion.runtime_root
    assert info["Images"] == len(bastion.ok("images", "-q").split())
    assert info["CgroupVersion"] in ("1", "2") and info["KernelVersion"] == os.uname().release
    text = bastion.ok("info")
    assert "Runtime Root: " + bastion.runtime_root in text and "Cgroup Version" in text
    version = json.loads(bastion.ok("version", "--format", "json"))
    assert set(version) == {"Client", "Server"}
    assert version["Server"]["ApiVersion"] == "1.41"  # what `system service` speaks
    assert any(c["Name"] == "conmon" and c["Version"] for c in version["Server"]["Components"])


@pytest.mark.parametrize("step", ["pulled", "mounted", "created", "started"])
def test_a_killed_run_is_repaired_by_system_prune(bastion: Bastion, step: str) -> None:
    with _run_stopped_at(bastion, step, "--name", f"killed-{step}", bastion.image, "true"):
        pass
    # what the kill left, read without the engine (which would settle it)
    db = sqlite3.connect(os.path.join(bastion.root, "bastion.db"))
    try:
        statuses = [row[0] for row in db.execute("SELECT status FROM containers")]
    finally:
        db.close()
    assert statuses == ([] if step == "pulled" else ["starting"])
    assert bool(mounts_under(bastion.root)) == (step in ("mounted", "created", "started"))
    if step == "created":  # the monitor and the init wait for a start that never comes
        assert conmons(bastion.root) != []
    bastion.ok("system", "prune", "-f")
    _nothing_left(bastion)


def test_an_rm_run_killed_then_started_again_mounts_its_volatile_overlay(
    bastion: Bastion,
) -> None:
    """A `--rm` container's overlay is volatile (images/overlay.py; Linux 6.x shows
    `fsync=volatile`). Its CLI killed once the container runs, nobody removes it: the look
    that records its exit unmounts it cleanly, and a `start` mounts the same upper directory
    again (the kernel refuses a work directory still marked volatile), changes kept."""
    script = "echo ran >> /runs; wc -l < /runs; sleep 1"
    argv = ("--rm", "--name", "killed-rm", bastion.image, "sh", "-c", script)
    try:
        with _run_stopped_at(bastion, "started", *argv):
            volatile = [bool(VOLATILE & o) for o in overlay_options_under(bastion.root)]
            assert volatile == [True]
        assert bastion.ok("wait", "killed-rm") == "0\n"
        assert mounts_under(bastion.root) == []
        result = bastion("start", "-a", "killed-rm")
        assert (result.returncode, result.stdout) == (0, "2\n"), result.stderr
    finally:
        bastion("rm", "-f", "killed-rm")
    _nothing_left(bastion)


@contextlib.contextmanager
def _run_stopped_at(bastion: Bastion, step: str, *args: str) -> Iterator[None]:
    """`bastion run ARGS` stopped (SIGSTOP, BASTION_TEST_STOP_AT) at `step`; SIGKILLed on exit."""
    run = subprocess.Popen(
        bastion.argv("run", *args),
        env={**os.environ, "BASTION_TEST_STOP_AT": step},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def stopped() -> bool:
        with open(f"/proc/{run.pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "T"

    try:
        _until(stopped, f"bastion run to stop at {step}", timeout=60)
        yield
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()


def _nothing_left(bastion: Bastion) -> None:
    assert bastion.ok("ps", "-a", "-q") == ""
    assert os.listdir(os.path.join(bastion.root, "containers")) == []
    assert mounts_under(bastion.root) == []
    assert conmons(bastion.root) == []
    assert cgroup_dirs(bastion.cgroup_parent) == []
    runtime = bastion.runtime_root
    left = (
        [n for n in os.listdir(runtime) if not n.startswith(".")] if os.path.isdir(runtime) else []
    )
    assert left == []  # no runtime state directory


def test_system_prune_removes_a_running_container_whose_record_is_gone(bastion: Bastion) -> None:
    cid = bastion.ok("run", "-d", bastion.image, "sleep", "1000").strip()
    db = sqlite3.connect(os.path.join(bastion.root, "bastion.db"))
    try:
        with db:  # as a `rm` killed after its last step
            db.execute("DELETE FROM containers WHERE id = ?", (cid,))
    finally:
        db.close()
    assert conmons(bastion.root) != [] and mounts_under(bastion.root) != []
    out = bastion.ok("system", "prune", "-f")
    assert "Total reclaimed space" in out
    _nothing_left(bastion)


def test_a_monitor_pid_file_naming_another_process_is_dropped(bastion: Bastion) -> None:
    cid = bastion.ok("run", "-d", bastion.image, "sleep", "1000").strip()
    directory = os.path.join(bastion.root, "containers", cid)
    with open(os.path.join(directory, "conmon.pid")) as f:
        monitor = int(f.read())
    stranger = subprocess.Popen(["sleep", "1000"])
    try:
        # the monitor dies and its pid is reused: the file now names an unrelated process
        os.kill(monitor, signal.SIGKILL)
        _until(lambda: not os.path.exists(f"/proc/{monitor}"), "the monitor to go")
        with open(os.path.join(directory, "conmon.pid"), "w") as f:
            f.write(f"{stranger.pid}\n")
        assert bastion.ok("ps", "-q") == cid[:12] + "\n"  # believed running
        bastion.ok("system", "prune", "-f")
        assert stranger.poll() is None  # never signalled
        _nothing_left(bastion)
    finally:
        stranger.kill()
        stranger.wait()
