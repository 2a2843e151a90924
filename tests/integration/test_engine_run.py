"""The engine end to end, through the `bastion` CLI: a real registry on 127.0.0.1 (Debian's
docker-registry), real conmon, real bastion-runc. Pull, then run (foreground and detached),
logs, ps, stop, kill, rm, wait, inspect; what a container sees from inside; OOM; 20 concurrent
`run --rm` on one metadata database.

Everything lives in a temporary engine root named `bst-test-engine-*` (the runtime's state
under it) with cgroups under `/bastion-test/bst-test-engine-*`; the module's teardown removes
every container and checks that no overlay mount, cgroup or conmon is left.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from bastion_testing.engine import Bastion, conmons, engine_rig, mounts_under

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs) as b:
        yield b


def test_pull_records_the_image_and_images_lists_it(bastion: Bastion) -> None:
    bastion("rmi", bastion.image.replace("busybox:latest", "configured:1"))  # if pulled
    table = bastion.ok("images").splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    repository, tag = bastion.image.rsplit(":", 1)
    row = next(line.split() for line in table[1:] if line.split()[0] == repository)
    assert row[1] == tag
    (image_id,) = bastion.ok("images", "-q").split()
    assert row[2] == image_id and len(image_id) == 12
    (doc,) = [json.loads(line) for line in bastion.ok("images", "--format", "json").splitlines()]
    assert doc["Repository"] == repository and doc["ID"] == image_id
    # the image id is the config's digest, as Docker's; the blob is in the engine's layout
    blob = os.path.join(bastion.root, "images", "blobs", "sha256")
    assert any(name.startswith(image_id) for name in os.listdir(blob))


def test_rmi_refuses_while_a_container_uses_the_image(bastion: Bastion) -> None:
    cid = bastion.ok("create", bastion.image, "true").strip()
    try:
        refused = bastion("rmi", bastion.image)
        assert refused.returncode == 125
        assert "error[engine-image-in-use]" in refused.stderr
    finally:
        bastion.ok("rm", cid)


def test_run_rm_echo_hi(bastion: Bastion) -> None:
    result = bastion("run", "--rm", bastion.image, "echo", "hi")
    assert (result.returncode, result.stdout) == (0, "hi\n"), result.stderr
    assert bastion.ok("ps", "-a", "-q") == ""
    assert os.listdir(os.path.join(bastion.root, "containers")) == []


def test_run_exits_with_the_containers_status(bastion: Bastion) -> None:
    result = bastion("run", "--rm", bastion.image, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (result.returncode, result.stdout) == (3, "out\n")
    assert "err\n" in result.stderr


@pytest.mark.parametrize(
    ("argv", "status", "reference"),
    [
        (("no-such-command",), 127, "engine-command-failed"),
        (("/etc",), 126, "engine-command-failed"),
        (("-w", "relative", "IMAGE", "true"), 125, "engine-invalid-option"),
        (("-u", "nobody-here", "IMAGE", "true"), 125, "engine-invalid-option"),
        (("127.0.0.1:1/nowhere", "true"), 125, "registry-unreachable"),
    ],
)
def test_docker_statuses_for_what_cannot_run(
    bastion: Bastion, argv: tuple[str, ...], status: int, reference: str
) -> None:
    args = [bastion.image if a == "IMAGE" else a for a in argv]
    if "IMAGE" not in argv and not argv[0].startswith("127.0.0.1:"):
        args.insert(0, bastion.image)
    result = bastion("run", "--rm", *args)
    assert result.returncode == status, result.stderr
    assert f"error[{reference}]" in result.stderr
    assert bastion.ok("ps", "-a", "-q") == ""


def _wait_for_log(bastion: Bastion, name: str, text: str) -> None:
    deadline = time.monotonic() + 20
    while text not in bastion.ok("logs", name):
        assert time.monotonic() < deadline, f"{text!r} never reached the log"
        time.sleep(0.05)


def test_detached_logs_stop_rm(bastion: Bastion) -> None:
    script = (
        'echo started; echo warn >&2; trap "echo bye; exit 7" TERM; while :; do sleep 0.1; done'
    )
    cid = bastion.ok("run", "-d", "--name", "bst-web", bastion.image, "sh", "-c", script).strip()
    assert len(cid) == 64
    _wait_for_log(bastion, "bst-web", "started")
    (row,) = [json.loads(line) for line in bastion.ok("ps", "--format", "json").splitlines()]
    assert (row["ID"], row["Names"], row["State"]) == (cid[:12], "bst-web", "running")
    state = bastion.inspect(cid[:8])["State"]
    assert isinstance(state, dict) and state["Running"] is True and state["Pid"] > 0
    os.kill(state["Pid"], 0)  # the container's process, in our pid namespace
    logs = bastion("logs", "bst-web")
    assert (logs.stdout, logs.stderr) == ("started\n", "warn\n")
    refused = bastion("rm", "bst-web")
    assert refused.returncode == 125 and "error[engine-container-state]" in refused.stderr
    bastion.ok("stop", "-t", "10", "bst-web")
    assert bastion.ok("ps", "-q") == ""
    assert bastion.ok("wait", "bst-web") == "7\n"
    state = bastion.inspect("bst-web")["State"]
    assert isinstance(state, dict)
    assert (state["Status"], state["ExitCode"], state["OOMKilled"]) == ("exited", 7, False)
    assert bastion.ok("logs", "--tail", "1", "bst-web") == "bye\n"
    assert conmons(bastion.root) == []
    bastion.ok("rm", "bst-web")
    assert bastion.ok("ps", "-a", "-q") == ""


def test_kill_with_a_signal_and_rm_force(bastion: Bastion) -> None:
    # the container's pid 1 gets only the signals it handles (pid_namespaces(7)), as in Docker
    script = 'trap "exit 5" USR1; echo ready; while :; do sleep 0.1; done'
    cid = bastion.ok("run", "-d", bastion.image, "sh", "-c", script).strip()
    _wait_for_log(bastion, cid, "ready")
    bastion.ok("kill", "-s", "USR1", cid[:12])
    assert bastion.ok("wait", cid) == "5\n"
    other = bastion.ok("run", "-d", bastion.image, "sleep", "600").strip()
    bastion.ok("rm", "-f", other, cid)
    assert bastion.ok("ps", "-a", "-q") == ""


def test_inside_a_container(bastion: Bastion) -> None:
    script = (
        "ls /proc | grep -c '^[0-9]'; hostname; cat /etc/hostname; id -u; pwd;"
        "echo written > /bin/bst-written; cat /bin/bst-written"
    )
    result = bastion(
        "run",
        "--rm",
        "-h",
        "bst-box",
        "-w",
        "/tmp",
        "-e",
        "BST=1",
        bastion.image,
        "sh",
        "-c",
        script,
    )
    assert result.returncode == 0, result.stderr
    processes, hostname, etc_hostname, uid, cwd, written = result.stdout.split()
    # sh, and ls and grep of the pipeline: no host process is visible
    assert int(processes) <= 3
    assert (hostname, etc_hostname, uid, cwd, written) == (
        "bst-box",
        "bst-box",
        "0",
        "/tmp",
        "written",
    )
    # the write went to that container's upper layer, not to the image
    again = bastion("run", "--rm", bastion.image, "ls", "/bin/bst-written")
    assert again.returncode != 0
    layers = os.path.join(bastion.root, "layers", "sha256")
    for layer in os.listdir(layers):
        assert not os.path.exists(os.path.join(layers, layer, "bin", "bst-written"))


def test_identity_reaches_the_runtime_before_the_first_exec(bastion: Bastion) -> None:
    cid = bastion.ok("create", "--name", "bst-ident", "-l", "team=blue", bastion.image, "true")
    cid = cid.strip()
    try:
        # create only writes config.json: its annotations are what the runtime publishes
        with open(os.path.join(bastion.root, "containers", cid, "config.json")) as f:
            annotations = json.load(f)["annotations"]
        assert annotations["bastion.name"] == "bst-ident"
        assert annotations["bastion.image"] == bastion.image
        assert annotations["bastion.image.digest"].startswith("sha256:")
        assert annotations["bastion.label.team"] == "blue"
    finally:
        bastion.ok("rm", cid)
    script = "cat /proc/self/status >/dev/null; sleep 600"
    cid = bastion.ok(
        "run", "-d", "--name", "bst-ident2", "-l", "team=red", bastion.image, "sh", "-c", script
    )
    cid = cid.strip()
    try:
        with open(os.path.join(bastion.runtime_root, cid, "identity.json")) as f:
            identity = json.load(f)
        assert identity["name"] == "bst-ident2"
        assert identity["image"] == bastion.image
        assert identity["imageDigest"] == bastion.inspect(cid)["RepoDigests"][0].split("@")[1]  # type: ignore[index]
        assert identity["labels"] == {"team": "red"}  # as given to --label
        assert identity["cgroupPath"] == f"{bastion.cgroup_parent}/{cid}"
    finally:
        bastion.ok("rm", "-f", cid)


def test_memory_limit_oom_kill(bastion: Bastion) -> None:
    # dd's 200 MiB buffer is touched by the read: far past the 64 MiB limit (no swap here)
    result = bastion(
        "run",
        "--name",
        "bst-oom",
        "-m",
        "64m",
        bastion.image,
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=200M",
        "count=1",
    )
    try:
        assert result.returncode == 137, result.stderr
        state = bastion.inspect("bst-oom")["State"]
        assert isinstance(state, dict)
        assert (state["ExitCode"], state["OOMKilled"]) == (137, True)
        assert "(OOMKilled)" in bastion.ok("ps", "-a")
    finally:
        bastion.ok("rm", "-f", "bst-oom")


def test_concurrent_runs_share_the_metadata(bastion: Bastion) -> None:
    runs = [
        subprocess.Popen(
            bastion.argv("run", "--rm", bastion.image, "echo", f"run-{i}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(20)
    ]
    outputs = [(p.communicate(timeout=120), p.returncode) for p in runs]
    for i, ((out, err), status) in enumerate(outputs):
        assert (status, out) == (0, f"run-{i}\n"), err
    assert bastion.ok("ps", "-a", "-q") == ""
    db = sqlite3.connect(os.path.join(bastion.root, "bastion.db"))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT COUNT(*) FROM containers").fetchone()[0] == 0
    finally:
        db.close()


def test_detached_rm_is_removed_by_its_monitor(bastion: Bastion) -> None:
    cid = bastion.ok("run", "-d", "--rm", bastion.image, "sh", "-c", "sleep 0.2; exit 4").strip()
    deadline = time.monotonic() + 20
    # nobody calls bastion for it: conmon's exit command removes it
    while os.path.exists(os.path.join(bastion.root, "containers", cid)):
        assert time.monotonic() < deadline, "the monitor never removed the container"
        time.sleep(0.05)
    assert bastion.ok("ps", "-a", "-q") == ""
    assert mounts_under(bastion.root) == []
    assert not os.path.exists(os.path.join(bastion.runtime_root, cid))


def test_a_start_that_died_half_way_is_noticed(bastion: Bastion) -> None:
    cid = bastion.ok("create", bastion.image, "true").strip()
    db = sqlite3.connect(os.path.join(bastion.root, "bastion.db"))
    try:
        with db:
            db.execute("UPDATE containers SET status = 'starting' WHERE id = ?", (cid,))
        # a live start holds the container's lock: the record is left alone
        import fcntl

        lock = os.open(
            os.path.join(bastion.root, "containers", cid, "start.lock"), os.O_RDWR | os.O_CREAT
        )
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            (row,) = [
                json.loads(x) for x in bastion.ok("ps", "-a", "--format", "json").splitlines()
            ]
            assert row["State"] == "starting"
            refused = bastion("rm", "-f", cid)
            assert refused.returncode == 125 and "engine-container-state" in refused.stderr
        finally:
            os.close(lock)
        # the starter is gone (no lock, no monitor): ended, status unknown (255), removable
        (row,) = [json.loads(x) for x in bastion.ok("ps", "-a", "--format", "json").splitlines()]
        assert (row["State"], row["Status"].split()[:2]) == ("exited", ["Exited", "(255)"])
    finally:
        db.close()
        bastion.ok("rm", cid)


def test_concurrent_pulls_of_one_image(bastion: Bastion) -> None:
    fresh = dataclasses.replace(bastion, root=os.path.join(os.path.dirname(bastion.root), "pulls"))
    try:
        pulls = [
            subprocess.Popen(
                fresh.argv("pull", "-q", fresh.image),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(20)
        ]
        results = [(p.communicate(timeout=120), p.returncode) for p in pulls]
        digests = {out.strip() for (out, _), _ in results}
        assert [status for _, status in results] == [0] * 20, [err for (_, err), _ in results]
        assert len(digests) == 1
        lines = fresh.ok("images", "--format", "json").splitlines()
        assert len(lines) == 1 and json.loads(lines[0])["Digest"] in digests
        # one unpacked copy of each layer, no temporary leftovers
        layers = os.path.join(fresh.root, "layers")
        assert len(os.listdir(os.path.join(layers, "sha256"))) == 1
        assert os.listdir(os.path.join(layers, "tmp")) == []
        assert fresh("run", "--rm", fresh.image, "true").returncode == 0
    finally:
        shutil.rmtree(fresh.root, ignore_errors=True)


def test_the_image_config_merges_with_the_flags_as_docker(bastion: Bastion) -> None:
    image = bastion.image.replace("busybox:latest", "configured:1")

    def out(*argv: str) -> str:
        result = bastion("run", "--rm", *argv)
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert out(image) == "ep default\n"  # Entrypoint + Cmd (pulled on first use)
    assert out(image, "x", "y") == "ep x y\n"  # arguments replace Cmd only
    # --entrypoint drops the image's Cmd; the image's WorkingDir and User apply
    assert out("--entrypoint", "pwd", image) == "/tmp\n"
    assert out("--entrypoint", "id", image, "-u") == "1000\n"
    assert out("--entrypoint", "id", "-u", "0", image, "-u") == "0\n"
    env = out("--entrypoint", "env", "-e", "FOO=flag", "-e", "NEW=1", "-h", "bst-h", image)
    lines = env.splitlines()
    assert "FOO=flag" in lines and "NEW=1" in lines and "PATH=/bin:/usr/bin" in lines
    assert "HOSTNAME=bst-h" in lines and "HOME=/home/bst" in lines
    bastion.ok("rmi", image)


def test_logs_follow_until_the_container_ends(bastion: Bastion) -> None:
    script = "echo one; sleep 0.5; echo two >&2; printf three"
    cid = bastion.ok("run", "-d", bastion.image, "sh", "-c", script).strip()
    try:
        followed = bastion("logs", "-f", cid)
        assert (followed.returncode, followed.stdout, followed.stderr) == (0, "one\nthree", "two\n")
        stamped = bastion.ok("logs", "-t", cid).split("\n")
        assert stamped[0].endswith(" one") and stamped[0][:4].isdigit()
    finally:
        bastion.ok("rm", "-f", cid)


def test_a_foreground_run_passes_signals_on(bastion: Bastion) -> None:
    script = 'trap "echo got-int; exit 9" INT; echo ready; while :; do sleep 0.1; done'
    run = subprocess.Popen(
        bastion.argv("run", "--rm", bastion.image, "sh", "-c", script),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert run.stdout is not None
        assert run.stdout.readline() == b"ready\n"
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=30)
        assert (run.returncode, out) == (9, b"got-int\n"), err
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert bastion.ok("ps", "-a", "-q") == ""


def test_wait_on_a_created_container_waits_for_its_run(bastion: Bastion) -> None:
    cid = bastion.ok("create", bastion.image, "sh", "-c", "exit 6").strip()
    try:
        waiting = subprocess.Popen(bastion.argv("wait", cid), stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)
        assert waiting.poll() is None
        bastion.ok("start", cid)
        assert waiting.communicate(timeout=30)[0] == "6\n"
    finally:
        bastion.ok("rm", "-f", cid)


def test_limits_reach_the_cgroup(bastion: Bastion) -> None:
    script = (
        "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max;"
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null"
        " || cat /sys/fs/cgroup/memory.max"
    )
    out = bastion.ok(
        "run", "--rm", "--pids-limit", "7", "-m", "32m", bastion.image, "sh", "-c", script
    )
    assert out.split() == ["7", str(32 << 20)]


def test_network_none_and_host(bastion: Bastion) -> None:
    def interfaces(*flags: str) -> set[str]:
        out = bastion.ok("run", "--rm", *flags, bastion.image, "cat", "/proc/net/dev")
        return {line.split(":")[0].strip() for line in out.splitlines()[2:]}

    assert interfaces() == {"lo", "eth0"}  # the default network, `bridge`
    assert interfaces("--network", "none") == {"lo"}
    # The host's own network namespace (its interface list changes under a busy host: compare
    # the namespace itself).
    inside = bastion.ok(
        "run", "--rm", "--network", "host", bastion.image, "readlink", "/proc/self/ns/net"
    )
    assert inside.strip() == os.readlink("/proc/self/ns/net")
    assert "lo" in interfaces("--network", "host")
    assert bastion.ok("run", "--rm", "--network", "host", bastion.image, "hostname").strip() == (
        os.uname().nodename
    )


def test_rmi_force_leaves_a_containers_layers(bastion: Bastion) -> None:
    image = bastion.image.replace("busybox:latest", "unique:1")
    cid = bastion.ok("create", image, "cat", "/unique").strip()
    layers = os.path.join(bastion.root, "layers", "sha256")
    before = set(os.listdir(layers))
    try:
        bastion.ok("rmi", "-f", image)
        assert image.rsplit(":", 1)[0] not in bastion.ok("images")
        assert set(os.listdir(layers)) == before  # its own layer stays: the container uses it
        bastion.ok("start", cid)
        assert bastion.ok("wait", cid) == "0\n"
        assert bastion.ok("logs", cid) == "only in this image\n"
    finally:
        bastion.ok("rm", "-f", cid)
    # with the container gone, the next rmi's prune takes the layer only this image had
    bastion.ok("pull", "-q", image)
    bastion.ok("rmi", image)
    assert len(set(os.listdir(layers))) == len(before) - 1
