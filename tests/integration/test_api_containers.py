"""The Docker API's container operations driven by the docker 20.10 CLI and docker-py:
restart, pause/unpause, rename, top, diff, stats, cp both ways (archive GET/HEAD/PUT), logs
--until, ps filters in both of Docker's forms, prune."""

from __future__ import annotations

import io
import os
import pathlib
import tarfile
import time
from typing import TYPE_CHECKING

import pytest

from bastion_testing.api_service import Service, serving
from bastion_testing.engine import Bastion, engine_rig

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [
    pytest.mark.privileged,
    # docker-py leaves the sockets of its streamed responses to the garbage collector
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-apic-") as b:
        yield b


@pytest.fixture(scope="module")
def service(bastion: Bastion) -> Iterator[Service]:
    with serving(bastion) as s:
        yield s


@pytest.fixture
def running(service: Service, bastion: Bastion) -> Iterator[str]:
    started = service.docker(
        "run", "-d", "--name", "bst-apic", "--label", "role=web", bastion.image, "sleep", "300"
    )
    assert started.returncode == 0, started.stderr
    yield started.stdout.strip()
    for cid in bastion("ps", "-a", "-q").stdout.split():
        bastion("rm", "-f", cid)


def _ok(service: Service, *args: str) -> str:
    result = service.docker(*args)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout


def test_pause_unpause_restart_rename(service: Service, running: str) -> None:
    _ok(service, "pause", "bst-apic")
    assert _ok(service, "inspect", "-f", "{{.State.Status}}", running).strip() == "paused"
    _ok(service, "unpause", "bst-apic")
    assert _ok(service, "inspect", "-f", "{{.State.Status}}", running).strip() == "running"
    pid = _ok(service, "inspect", "-f", "{{.State.Pid}}", running)
    _ok(service, "restart", "-t", "1", "bst-apic")
    assert _ok(service, "inspect", "-f", "{{.State.Pid}}", running) != pid
    _ok(service, "rename", "bst-apic", "bst-apic-renamed")
    assert _ok(service, "ps", "--format", "{{.Names}}").split() == ["bst-apic-renamed"]
    bad = service.docker("rename", "bst-apic-renamed", "no spaces")
    assert bad.returncode == 1 and "no spaces" in bad.stderr, bad


def test_top_and_diff(service: Service, running: str) -> None:
    rows = _ok(service, "top", running).splitlines()
    assert rows[0].split()[:3] == ["UID", "PID", "PPID"] and len(rows) == 2, rows
    assert rows[1].endswith("sleep 300")
    _ok(service, "exec", running, "sh", "-c", "echo x > /tmp/new; rm /bin/true; echo >> /etc/hosts")
    diff = _ok(service, "diff", running).splitlines()
    assert "A /tmp/new" in diff and "D /bin/true" in diff and "C /bin" in diff, diff


def test_stats_prints_sane_numbers(service: Service, bastion: Bastion, running: str) -> None:
    busy = _ok(service, "run", "-d", "-m", "64m", bastion.image, "sh", "-c", "while :; do :; done")
    out = _ok(
        service,
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}",
    )
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    cpu, used, _, limit, pids = (
        lines[busy[:12]]
        if busy[:12] in lines
        else next(v for k, v in lines.items() if k != "bst-apic")
    )
    assert float(cpu.rstrip("%")) > 1.0, out  # a busy loop: well above idle
    assert limit == "64MiB" and used != "0B" and pids == "1", out
    _ok(service, "stop", "-t", "0", busy.strip())
    stopped = _ok(
        service, "stats", "-a", "--no-stream", "--format", "{{.ID}} {{.CPUPerc}} {{.PIDs}}"
    )
    assert f"{busy[:12]} 0.00% 0" in stopped.splitlines(), stopped
    idle = lines["bst-apic"]
    assert idle[4] == "1" and idle[3] != "64MiB", out
    client = service.client()
    try:
        doc = client.containers.get(running).stats(stream=False)
        for key in ("cpu_stats", "precpu_stats", "memory_stats", "pids_stats"):
            assert key in doc, doc
        assert doc["cpu_stats"]["system_cpu_usage"] > doc["precpu_stats"]["system_cpu_usage"]
        stream = client.containers.get(running).stats(decode=True)
        first, second = next(stream), next(stream)
        assert second["precpu_stats"]["cpu_usage"] == first["cpu_stats"]["cpu_usage"]
        stream.close()
    finally:
        client.close()


def test_cp_both_ways_and_archive(service: Service, running: str, tmp_path: str) -> None:
    host_dir = os.path.join(str(tmp_path), "in")
    os.makedirs(os.path.join(host_dir, "sub"))
    with open(os.path.join(host_dir, "sub", "f"), "w") as f:
        f.write("from host\n")
    os.chmod(os.path.join(host_dir, "sub", "f"), 0o640)
    _ok(service, "cp", host_dir, f"{running}:/tmp/")
    _ok(service, "cp", os.path.join(host_dir, "sub", "f"), f"{running}:/tmp/renamed")
    shown = _ok(
        service,
        "exec",
        running,
        "sh",
        "-c",
        "cat /tmp/in/sub/f /tmp/renamed; stat -c %a /tmp/renamed",
    )
    assert shown == "from host\nfrom host\n640\n"
    out_dir = os.path.join(str(tmp_path), "out")
    _ok(service, "cp", f"{running}:/etc/hostname", out_dir)
    assert pathlib.Path(out_dir).read_text().strip() == running[:12]
    _ok(service, "cp", f"{running}:/tmp/in", os.path.join(str(tmp_path), "back"))
    assert pathlib.Path(tmp_path, "back", "sub", "f").read_text() == "from host\n"
    missing = service.docker("cp", f"{running}:/no/such", str(tmp_path))
    assert missing.returncode == 1 and "No such container:path" in missing.stderr  # our 404
    client = service.client()
    try:
        container = client.containers.get(running)
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tar:
            info = tarfile.TarInfo("py.txt")
            info.size, info.mode = 3, 0o600
            tar.addfile(info, io.BytesIO(b"py\n"))
        assert container.put_archive("/tmp", data.getvalue())
        chunks, stat = container.get_archive("/tmp/py.txt")
        assert stat["name"] == "py.txt" and stat["size"] == 3 and stat["mode"] == 0o600
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
            member = tar.extractfile("py.txt")
            assert member is not None and member.read() == b"py\n"
        # a member that climbs out of the destination makes nothing
        evil = io.BytesIO()
        with tarfile.open(fileobj=evil, mode="w") as tar:
            info = tarfile.TarInfo("../../escape")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
        import docker  # type: ignore[import-untyped]

        with pytest.raises(docker.errors.APIError):
            container.put_archive("/tmp", evil.getvalue())
        assert container.exec_run(["ls", "/escape"]).exit_code != 0
    finally:
        client.close()


def test_logs_until_and_ps_filters(service: Service, bastion: Bastion, running: str) -> None:
    cid = _ok(
        service, "run", "-d", bastion.image, "sh", "-c", "echo early; sleep 2; echo late; sleep 300"
    )
    cid = cid.strip()
    time.sleep(1)
    cut = f"{time.time():.3f}"
    deadline = time.monotonic() + 20
    while "late" not in _ok(service, "logs", cid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _ok(service, "logs", "--until", cut, cid) == "early\n"
    assert _ok(service, "logs", "--since", cut, cid) == "late\n"
    # the CLI sends filters as {"k": {"v": true}}
    assert _ok(service, "ps", "-q", "--filter", "label=role=web").split() == [running[:12]]
    assert _ok(service, "ps", "-q", "--filter", "name=bst-apic").split() == [running[:12]]
    assert _ok(service, "ps", "-q", "--filter", "status=exited") == ""
    _ok(service, "stop", "-t", "0", cid)
    assert _ok(service, "ps", "-q", "--filter", "status=exited").split() == [cid[:12]]
    client = service.client()
    try:  # docker-py sends {"k": ["v"]}
        assert [c.id for c in client.containers.list(filters={"label": "role=web"})] == [running]
        assert client.containers.list(all=True, filters={"exited": "137"})[0].id == cid
    finally:
        client.close()
    bad = service.docker("ps", "--filter", "colour=blue")
    assert bad.returncode == 1 and "invalid filter 'colour'" in bad.stderr
    pruned = _ok(service, "container", "prune", "-f")
    assert cid in pruned and running not in pruned
    assert _ok(service, "ps", "-a", "-q").split() == [running[:12]]
