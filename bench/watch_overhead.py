"""What watching costs a container workload: its wall time with and without `bastion watch`.

    .venv/bin/python bench/watch_overhead.py [--rounds N] [--spawns N]

The workload, in a bastion-runc container (busybox, writable root): unpack a source tree (a tar
of the venv's site-packages, copied into the rootfs once), checksum every file (md5sum), then
spawn a process per script for the first N Python files (`sh -c 'head -n 1 FILE'`): file- and
process-heavy, as a build or a test job. Each round runs it twice, alternating which goes
first: with no sensor, and with `bastion watch --container` (bastion's default rules, alerts
to /dev/null: the container alone is watched, so other sessions' floods on this shared machine
stay out of the figure) started after `create` and stopped after the run. Timed: `start` to
stopped. Printed: the median wall time in each mode, the overhead in percent (median of the
paired ratios), the sensor's CPU time per round, and the load average (the machine is shared:
read the figures with it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import host

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(REPO, ".venv", "bin")


def workload(spawns: int) -> str:
    return f"""\
set -e
rm -rf /tmp/work; mkdir /tmp/work; cd /tmp/work
tar xf /src.tar
find . -type f -exec md5sum {{}} + > /tmp/sums
find . -name '*.py' | head -n {spawns} > /tmp/scripts
while read -r f; do sh -c "head -n 1 '$f' > /dev/null"; done < /tmp/scripts
cd /; rm -rf /tmp/work
"""


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_stopped(runc: list[str], cid: str) -> None:
    while True:
        state = subprocess.run([*runc, "state", cid], capture_output=True, text=True, check=True)
        if json.loads(state.stdout)["status"] == "stopped":
            return
        time.sleep(0.1)  # each look is a bastion-runc process: not too often


def run_once(runc: list[str], bundle: str, cid: str, watched: bool) -> tuple[float, float]:
    """One container run, timed from `start` to stopped; with `watched`, under `bastion watch
    --container` (started after `create`, stopped after the run). The wall time, and the
    watch's CPU time over the run."""
    root = runc[2]
    # not captured: the container's init keeps create's stdout and stderr open until it ends
    subprocess.run(
        [*runc, "create", "--bundle", bundle, cid],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    watch = None
    try:
        if watched:
            watch = subprocess.Popen(
                [
                    os.path.join(BIN, "bastion"),
                    "--root",
                    root,
                    "watch",
                    "-o",
                    "json",
                    "--container",
                    cid,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert watch.stderr is not None
            for line in watch.stderr:
                if line.startswith("bastion: watching"):
                    break
            before = cpu_seconds(watch.pid)
        began = time.perf_counter()
        subprocess.run([*runc, "start", cid], check=True, capture_output=True)
        wait_stopped(runc, cid)
        took = time.perf_counter() - began
        used = 0.0
        if watch is not None:
            used = cpu_seconds(watch.pid) - before
            watch.send_signal(signal.SIGINT)
            watch.communicate(timeout=600)
        return took, used
    finally:
        if watch is not None and watch.poll() is None:
            watch.kill()
            watch.communicate()
        subprocess.run([*runc, "delete", "--force", cid], capture_output=True, check=False)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5, help="paired rounds (default 5)")
    p.add_argument("--spawns", type=int, default=500, help="processes per run (default 500)")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("watch_overhead: needs root (the probe, the container)", file=sys.stderr)
        return 2
    print(f"load average at start: {os.getloadavg()}")
    work = tempfile.mkdtemp(prefix="bst-bench-overhead-")
    runc = [os.path.join(BIN, "bastion-runc"), "--root", os.path.join(work, "root")]
    cid = f"bst-bench-overhead-{os.getpid()}"
    times: dict[str, list[float]] = {"none": [], "watch": []}
    cpu: list[float] = []
    try:
        bundle = os.path.join(work, "bundle")
        os.makedirs(bundle)
        rootfs = os.path.join(bundle, "rootfs")
        print(f"rootfs: {host.make_rootfs(rootfs)}")
        site = sysconfig.get_paths()["purelib"]
        tar = os.path.join(rootfs, "src.tar")
        subprocess.run(["tar", "cf", tar, "-C", site, "."], check=True)
        listing = subprocess.run(["tar", "tf", tar], capture_output=True, text=True, check=True)
        entries = len(listing.stdout.splitlines())
        size = os.path.getsize(tar) >> 20
        print(f"source tree: {site} ({entries} entries, {size} MiB), {args.spawns} spawns per run")
        spec = host.base_spec(None, ["sh", "-c", workload(args.spawns)])
        spec["root"] = {"path": "rootfs", "readonly": False}
        host.write_config(bundle, spec, f"/bastion-bench/{cid}")
        run_once(runc, bundle, cid, False)  # warm-up: page cache, image
        for rnd in range(args.rounds):
            for mode in ("none", "watch") if rnd % 2 == 0 else ("watch", "none"):
                took, used = run_once(runc, bundle, cid, mode == "watch")
                times[mode].append(took)
                if mode == "watch":
                    cpu.append(used)
            print(
                f"  round {rnd + 1}: none {times['none'][-1]:.2f} s, "
                f"watch {times['watch'][-1]:.2f} s, sensor CPU {cpu[-1]:.2f} s"
            )
    finally:
        subprocess.run([*runc, "delete", "--force", cid], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)
        host.remove_cgroups(cid)
    ratios = [w / n for w, n in zip(times["watch"], times["none"], strict=True)]
    print(f"load average at end: {os.getloadavg()}")
    print(f"no sensor: median {statistics.median(times['none']):.2f} s")
    print(
        f"watched:   median {statistics.median(times['watch']):.2f} s "
        f"(sensor CPU median {statistics.median(cpu):.2f} s per run)"
    )
    print(f"overhead: {100 * (statistics.median(ratios) - 1):+.1f}% (median of paired ratios)")
    return 0


if __name__ == "__main__":
    host.run_main(main)
