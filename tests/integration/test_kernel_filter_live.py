"""The kernel-side open filter changes no alert: one workload, watched with it on and off.

The same mixed workload runs twice in a bastion-runc container, under `bastion watch` with
Falco's stable rules and bastion's own (every matching rule reported): once with the open
filter the rules allow (the default), once with `--no-kernel-filter`. The alerts, each rule with
its output fields apart from what differs between two runs anyway (times, pids, the container's
id and name), must be the same multiset, and the filtered run must have delivered fewer events:
the probe's own counters say how many opens it kept back, by path class.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_watch_live import create, wait_stopped, watches

from bastion.sensor.defaults import DEFAULT_RULES
from bastion_testing import shared_data
from bastion_testing.plugin import BundleFactory
from bastion_testing.runc import Runc
from bastion_testing.watch import Watch

__all__ = ["watches"]  # the fixture, used by name

pytestmark = [pytest.mark.privileged, pytest.mark.bpf]

ROUNDS = 150
#: Opens of filterable classes each round makes (cat /dev/null, head of /dev/urandom, cat of a
#: file under /usr/lib and under /usr/share, and of /proc/self/stat): at least these are kept back.
FILTERABLE_PER_ROUND = 5
WORKLOAD = f"""
i=0
while [ $i -lt {ROUNDS} ]; do
  cat /dev/null
  head -c 8 /dev/urandom > /dev/null
  cat /usr/lib/bst/libfake.so /usr/share/bst/data /proc/self/stat > /dev/null
  i=$((i+1))
done
cat /etc/shadow > /dev/null
cat /usr/lib/bst/../../../etc/shadow > /dev/null
cd /usr/lib/bst && cat ./libfake.so > /dev/null && cd /
exec 3</usr/lib/bst/libfake.so; cat <&3 > /dev/null; exec 3<&-
exec 4</dev/null; exec 5<&4; exec 5<&-; exec 4<&-
mkdir -p /etc/bst-kfilter && echo x > /etc/bst-kfilter/conf && cat /etc/bst-kfilter/conf
echo x > /usr/bin/bst-dropped
printf '#!/usr/bin/awk -f\nBEGIN {{ system("true") }}\n' > /tmp/spawner && chmod +x /tmp/spawner
/tmp/spawner
ls /sys/class > /dev/null
cat /sys/kernel/mm/transparent_hugepage/enabled /dev/zero 2>/dev/null | head -c 4 > /dev/null
"""
FILTERED = "kept back by the kernel filter (events no rule can match)"
#: Output fields that differ between two runs of the same workload.
VARYING = ("pid", "time", "container.id", "container.name", "evt.num")


def run_watched(
    runc: Runc,
    bundle_factory: BundleFactory,
    runtime_root: str,
    watches: list[Watch],
    cid: str,
    *flags: str,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    bundle = create(runc, bundle_factory, cid, ["sh", "-c", WORKLOAD])
    rootfs = Path(bundle, "rootfs")
    (rootfs / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    for path in ("usr/lib/bst/libfake.so", "usr/share/bst/data"):
        (rootfs / path).parent.mkdir(parents=True, exist_ok=True)
        (rootfs / path).write_text("x" * 64)
    stable = shared_data.shared_path(*shared_data.FALCO_RULES)
    watch = Watch(
        runtime_root,
        "--container",
        cid,
        "-r",
        str(stable),
        "-r",
        str(DEFAULT_RULES),
        "--rule-matching",
        "all",
        *flags,
    )
    watches.append(watch)
    runc("start", cid, check=True)
    wait_stopped(runc, cid, 60)
    alerts, stats = watch.stop()
    runc("delete", cid, check=True)
    return alerts, stats


def comparable(alerts: list[dict[str, Any]], cid: str) -> Counter[tuple[str, str]]:
    """Each alert as (rule, its output fields without what varies between runs)."""
    out: Counter[tuple[str, str]] = Counter()
    for alert in alerts:
        fields = {
            k: str(v).replace(cid, "CID").replace(cid[:12], "CID")
            for k, v in alert["output_fields"].items()
            if not any(word in k for word in VARYING)
        }
        out[(alert["rule"], repr(sorted(fields.items())))] += 1
    return out


@pytest.mark.slow
@shared_data.needs(*shared_data.FALCO_RULES)
def test_alerts_are_the_same_with_the_filter_on_and_off(
    runc: Runc,
    bundle_factory: BundleFactory,
    runtime_root: str,
    container_id: str,
    watches: list[Watch],
) -> None:
    on_id, off_id = container_id + "-on", container_id + "-off"
    on_alerts, on = run_watched(runc, bundle_factory, runtime_root, watches, on_id)
    off_alerts, off = run_watched(
        runc, bundle_factory, runtime_root, watches, off_id, "--no-kernel-filter"
    )
    for stats in (on, off):
        assert stats["dropped (ring buffer full)"] == "0", stats
    rules = {a["rule"] for a in off_alerts}
    # the workload does raise alerts, and of several rules (the comparison means something)
    assert "Read Sensitive File in Container" in rules
    assert "Write Below Binary Directory" in rules and "Shell Spawned in Container" in rules
    assert comparable(on_alerts, on_id) == comparable(off_alerts, off_id)
    # the filter kept opens back, counted by class; the unfiltered run kept nothing back
    kept = int(on[FILTERED])
    assert kept >= ROUNDS * FILTERABLE_PER_ROUND, on
    for where in ("/dev/null", "/dev/urandom", "/usr/lib/*", "/usr/share/*", "/proc/self/*"):
        assert int(on[f"filtered {where}"]) >= ROUNDS, (where, on)
    # and the closes of their fds (busybox cat closes what it opened)
    assert int(on["filtered closes of kept-back opens"]) >= ROUNDS * FILTERABLE_PER_ROUND, on
    assert int(off.get(FILTERED, "0")) == 0
    delivered_on, delivered_off = int(on["events"]), int(off["events"])
    assert delivered_on < delivered_off
    # every record the probe built is accounted for
    assert int(on["produced by the probe"]) == int(on["read from the ring"]) + kept
    print(
        f"\nkernel filter: {delivered_on} events delivered with it, {delivered_off} without; "
        f"{kept} events kept back (opens and their closes) ({len(on_alerts)} alerts each run)"
    )
