"""The spill area under a flood longer than its limit allows: memory stays bounded, the bulk
records past the limit are dropped and counted (by type and cgroup, in the drop alert), and
the critical class (process lifecycle) is still delivered."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from bastion.sensor.assemble import new_state
from bastion.sensor.drops import DropAlerter
from bastion.sensor.live import live_filter, open_probe
from bastion.sensor.sources import ProbeSource
from bastion.sensor.spill import RECORD_OVERHEAD, SpillSettings

pytestmark = [pytest.mark.privileged, pytest.mark.bpf]

LIMIT = 8 << 20
RING = 8 << 20  # mapped twice by the reader: 16 MiB of the process's memory once touched
FLOOD = "import os\nfor _ in range(400000):\n    os.close(os.open('/dev/null', os.O_RDONLY))"


def _hwm_bytes() -> int:
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def test_flood_past_the_limit_drops_bulk_keeps_lifecycle_and_stays_bounded(
    runtime_root: str,
) -> None:
    state = new_state(runtime_root)
    probe = open_probe(live_filter(runtime_root, events="openat,close", ring_size=RING))
    flood: list[subprocess.Popen[bytes]] = []
    pids: list[int] = []
    stop = False

    def started() -> None:
        flood.append(subprocess.Popen([sys.executable, "-S", "-c", FLOOD]))

    source = ProbeSource(
        state, probe, lambda: stop, started, spill=SpillSettings(limit_bytes=LIMIT)
    )
    before = _hwm_bytes()
    seen_exec: set[int] = set()
    delivered = 0
    stalled = False
    for batch in source.batches():
        if not stalled:  # an evaluation far slower than the flood: the spill fills
            stalled = True
            time.sleep(1.0)
            for _ in range(10):  # lifecycle events while the spill is full
                child = subprocess.Popen(["/bin/true"])
                assert child.wait() == 0
                pids.append(child.pid)
        delivered += len(batch)
        seen_exec.update(e.pid for e in batch if e.type == "execve")
        if flood and flood[0].poll() is not None and not stop:
            time.sleep(0.2)
            stop = True
    stats = source.statistics
    assert flood[0].returncode == 0
    grew = _hwm_bytes() - before
    dropped_spill = stats["dropped_spill"]
    assert dropped_spill > 0, stats
    # unbounded, the flood's records would have taken far more than the limit allows
    assert stats["produced"] * (56 + RECORD_OVERHEAD) > 4 * LIMIT
    assert grew < LIMIT + 2 * RING + (32 << 20), (grew, stats)
    assert stats["spill_peak_bytes"] <= LIMIT
    # every record is accounted for: delivered + dropped in the ring + dropped in the spill
    assert stats["produced"] == delivered + stats["dropped_ring_full"] + dropped_spill
    assert set(pids) <= seen_exec, (pids, stats)  # the critical class was kept past the limit
    tally = source.drops()
    alert = DropAlerter().flush(tally, time.time_ns())
    assert alert is not None
    fields = alert.output_fields
    assert fields["n_drops"] == dropped_spill + stats["dropped_ring_full"]
    assert fields["n_drops_spill"] == dropped_spill
    assert fields["n_drops_critical"] == 0 == stats["dropped_critical"]
