"""`stats`' block and network counters from the kernel's files (engine/io_counters.py): cgroup
v1's blkio throttle file, cgroup2's io.stat, /proc/PID/net/dev."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from bastion.engine.io_counters import block_io, network, totals

if TYPE_CHECKING:
    from pathlib import Path

V1 = """8:0 Read 4096
8:0 Write 12288
8:0 Sync 16384
8:0 Async 0
8:0 Total 16384
8:16 Read 100
8:16 Write 0
Total 16484
"""
V2 = "8:0 rbytes=4096 wbytes=12288 rios=1 wios=3 dbytes=0 dios=0\n8:16 rbytes=100 wbytes=0\n"


def test_cgroup_v1_blkio(tmp_path: Path) -> None:
    (tmp_path / "blkio.throttle.io_service_bytes_recursive").write_text(V1)
    entries = block_io(["/nonexistent", str(tmp_path)])
    assert entries == (
        (8, 0, "read", 4096),
        (8, 0, "write", 12288),
        (8, 16, "read", 100),
        (8, 16, "write", 0),
    )
    assert totals(entries) == (4196, 12288)


def test_cgroup_v2_io_stat(tmp_path: Path) -> None:
    (tmp_path / "io.stat").write_text(V2)
    entries = block_io([str(tmp_path)])
    assert totals(entries) == (4196, 12288)
    assert (8, 0, "write", 12288) in entries


def test_no_counters() -> None:
    assert block_io(["/nonexistent"]) == ()


def test_network_of_this_process_leaves_loopback_out() -> None:
    # this process's own namespace: whatever interfaces it has, each with Docker's names
    interfaces = network(os.getpid())
    assert "lo" not in interfaces
    for counters in interfaces.values():
        assert set(counters) == {
            *("rx_bytes", "rx_packets", "rx_errors", "rx_dropped"),
            *("tx_bytes", "tx_packets", "tx_errors", "tx_dropped"),
        }
    assert network(2**22 + 1) == {}  # past pid_max: no such process
