"""`stats`' block and network I/O, against I/O the test makes: a container writes 8 MiB with an
fsync (its cgroup's blkio/io counters), and the test sends it UDP datagrams over the rig's
bridge (its eth0's counters, read from its network namespace); the CLI's table and JSON and the
API's `blkio_stats`/`networks` show them."""

from __future__ import annotations

import json
import os
import socket
import time
from typing import TYPE_CHECKING, Any

import pytest

from bastion_testing.api_service import Service, serving
from bastion_testing.engine import Bastion, engine_rig

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.privileged

WRITTEN = 8 * 1024 * 1024
DATAGRAMS, DATAGRAM = 40, 1000


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-statsio-") as b:
        yield b


@pytest.fixture(scope="module")
def service(bastion: Bastion) -> Iterator[Service]:
    with serving(bastion) as s:
        yield s


def until(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.1)


def cli_stats(bastion: Bastion, name: str) -> dict[str, Any]:
    line = bastion.ok("stats", "--no-stream", "--format", "json", name).splitlines()[0]
    doc: dict[str, Any] = json.loads(line)
    return doc


def count_block_io(bastion: Bastion, container_id: str) -> None:
    """On cgroup v1, have the kernel count the container's block I/O: since Linux 6.10 the
    blkio throttle counters stay 0 on a device until some cgroup has a throttle limit on it
    (docs/engine.md), so the container's own cgroup gets one too large to ever hold it back
    (it goes with the cgroup). cgroup2's io.stat always counts."""
    blkio = f"/sys/fs/cgroup/blkio{bastion.cgroup_parent}/{container_id}"
    if not os.path.isdir(blkio):
        return
    device = os.stat(os.path.join(bastion.root, "containers", container_id)).st_dev
    sysfs = f"/sys/dev/block/{os.major(device)}:{os.minor(device)}"
    if os.path.exists(os.path.join(sysfs, "partition")):  # limits go on the whole disk
        sysfs = os.path.join(sysfs, "..")
    with open(os.path.join(sysfs, "dev")) as f:
        disk = f.read().strip()
    with open(os.path.join(blkio, "blkio.throttle.write_bps_device"), "w") as f:
        f.write(f"{disk} {2**50}\n")


def test_block_and_network_io(bastion: Bastion, service: Service) -> None:
    container_id = bastion.ok(
        *("run", "-d", "--name", "io"),
        *(bastion.image, "sh", "-c"),
        "until [ -e /tmp/go ]; do sleep 0.1; done;"
        f" dd if=/dev/zero of=/tmp/blk bs=1M count={WRITTEN // 2**20} conv=fsync"
        " && touch /tmp/done; sleep 600",
    ).strip()
    try:
        count_block_io(bastion, container_id)
        bastion.ok("exec", "io", "touch", "/tmp/go")
        until("written", lambda: bastion("exec", "io", "test", "-e", "/tmp/done").returncode == 0)
        address = bastion.inspect("io")["NetworkSettings"]["IPAddress"]  # type: ignore[index]
        before = cli_stats(bastion, "io")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for _ in range(DATAGRAMS):
                sender.sendto(b"x" * DATAGRAM, (address, 9))
        until(
            "received",
            lambda: (
                cli_stats(bastion, "io")["NetworkRx"] >= before["NetworkRx"] + DATAGRAMS * DATAGRAM
            ),
        )
        after = cli_stats(bastion, "io")
        assert after["BlockWrite"] >= WRITTEN
        assert after["NetIO"].endswith("B") and " / " in after["BlockIO"]
        table = bastion.ok("stats", "--no-stream", "io")
        assert "NET I/O" in table and "BLOCK I/O" in table
        doc = service.client().api.stats("io", stream=False)
        written = sum(
            e["value"]
            for e in doc["blkio_stats"]["io_service_bytes_recursive"]
            if e["op"] == "write"
        )
        assert written >= WRITTEN
        assert doc["networks"]["eth0"]["rx_bytes"] >= after["NetworkRx"]
        assert set(doc["networks"]) == {"eth0"}  # loopback left out, as Docker
        shown = service.docker("stats", "--no-stream", "--format", "{{.BlockIO}}", "io")
        assert shown.returncode == 0, shown
        assert shown.stdout.strip().split(" / ")[1].endswith("MB"), shown  # 8 MiB and more
    finally:
        bastion.ok("rm", "-f", "io")
