"""Alert latency and time to kill, in-kernel and from user space, on a live bastion container.

    .venv/bin/python bench/watch_kill.py [--kills N] [--pings N]

One `bastion watch -o json` on one bastion-runc container (busybox, the test image's helper
binary copied under the names the rules give). Rules (all on execve exits in the container):
- `bench victim`: kill_process on ``proc.name = bst-victim``: the kernel decides it, so the
  probe kills at the exec's exit (``killed-process (kernel)``);
- `bench slow victim`: kill_process on ``proc.name = bst-slowvic and proc.pname != x``: the
  kernel cannot read the parent's name, so user space kills (``killed-process``);
- `bench exit`: an alert on each victim's procexit;
- `bench ping`: an alert on each exec of ``bst-ping`` (N pings, one after another).
The two victims alternate round by round (N each). Time to kill: the probe's timestamp of the
exec exit to that of the process's exit (both from the probe: CLOCK_BOOTTIME). Alert latency:
the probe's timestamp of a ping's exec to the moment its JSON alert line is read from watch's
stdout (written and flushed per alert): p50/p99 over the pings. The load average is printed.
`--stages FILE` also asks the watch for its latency trace (`bastion.sensor.latency_trace`, kept
in FILE) and prints where each ping's time went: probe -> copied out of the ring by the reader
thread -> taken from the spill by the evaluation -> rules and outputs done -> line read here
(p50/p99 of each stage, and the five slowest pings stage by stage).
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import host

from bastion.sensor.latency_trace import ENV, Stages, read_trace

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(REPO, ".venv", "bin")
HELPER = "/usr/bin/bst-helper"  # in the test image (tests/helpers/bastion_testing/rootfs.py)

RULES = """\
- rule: bench victim
  desc: decided in the kernel
  condition: evt.type = execve and evt.dir = < and container.id != host and proc.name = bst-victim
  output: "victim %evt.rawtime %proc.pid"
  priority: WARNING
  action: [kill_process]
- rule: bench slow victim
  desc: the parent's name is user space's to know
  condition: >
    evt.type = execve and evt.dir = < and container.id != host and proc.name = bst-slowvic
    and proc.pname != bst-nobody
  output: "slow %evt.rawtime %proc.pid"
  priority: WARNING
  action: [kill_process]
- rule: bench exit
  desc: a victim's end
  condition: evt.type = procexit and proc.name in (bst-victim, bst-slowvic)
  output: "exit %evt.rawtime %proc.pid"
  priority: NOTICE
- rule: bench ping
  desc: one alert per exec
  condition: evt.type = execve and evt.dir = < and container.id != host and proc.name = bst-ping
  output: "ping %evt.rawtime"
  priority: NOTICE
"""


def script(kills: int, pings: int) -> str:
    return f"""\
for n in victim slowvic ping; do cp {HELPER} /tmp/bst-$n; done
/tmp/bst-ping pid > /dev/null
while [ ! -e /tmp/bst-go ]; do sleep 0.05; done
i=0; while [ $i -lt {kills} ]; do
  /tmp/bst-victim sleep 30; /tmp/bst-slowvic sleep 30; i=$((i+1))
done
i=0; while [ $i -lt {pings} ]; do /tmp/bst-ping pid > /dev/null; i=$((i+1)); done
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def schedstat(pid: int) -> list[int]:
    """ns on a CPU and ns runnable but waiting for one (the scheduler's run delay), summed over
    the threads of `pid` (/proc/PID/task/*/schedstat): how much a loaded host held it back."""
    total = [0, 0]
    task_dir = f"/proc/{pid}/task"
    for tid in os.listdir(task_dir):
        try:
            with open(f"{task_dir}/{tid}/schedstat") as f:
                on_cpu, waited, _ = f.read().split()
        except (OSError, ValueError):
            continue  # a thread that ended meanwhile
        total[0] += int(on_cpu)
        total[1] += int(waited)
    return total


STAGES = (
    "probe -> read from the ring",
    "read -> taken from the spill",
    "taken -> rules, outputs done",
    "done -> line read here",
)


def print_stages(trace: list[Stages], pinged: list[tuple[int, int]]) -> None:
    """Each ping's latency by stage: its block in the trace is the first whose newest
    critical record is not older than the ping's exec (blocks come in ring order). The probe's
    clock is CLOCK_BOOTTIME, the alert's time the epoch: the offset is read here, as the
    watch's decoder read it (a few us apart, far below the time between two pings)."""
    offset = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    blocks = [s for s in trace if s.probe_ns]
    newest = [s.probe_ns for s in blocks]
    rows = []
    for rawtime, boot_read in pinged:
        at = bisect.bisect_left(newest, rawtime - offset - 10_000)
        if at == len(blocks):
            continue
        b = blocks[at]
        probe = rawtime - offset
        rows.append(
            (
                (boot_read - probe) / 1e6,
                (b.read_ns - probe) / 1e6,
                (b.handed_ns - b.read_ns) / 1e6,
                (b.done_ns - b.handed_ns) / 1e6,
                (boot_read - b.done_ns) / 1e6,
            )
        )
    if not rows:
        return
    print(f"stages of the pings' latency (n={len(rows)} matched in the trace):")
    for index, label in enumerate(STAGES, start=1):
        times = [row[index] for row in rows]
        print(f"  {label:30} p50 {pct(times, 0.5):.3f} ms p99 {pct(times, 0.99):.3f} ms")
    print("  the five slowest pings (total: stage by stage, ms):")
    for row in sorted(rows, reverse=True)[:5]:
        print(f"    {row[0]:.2f}: " + " / ".join(f"{t:.2f}" for t in row[1:]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=100, help="victims of each kind (default 100)")
    p.add_argument("--pings", type=int, default=1000, help="alerts timed (default 1000)")
    p.add_argument(
        "--stages",
        metavar="FILE",
        help="also trace the stages of the latency in the watch, into FILE (kept)",
    )
    args = p.parse_args()
    if os.geteuid() != 0:
        print("watch_kill: needs root (the probe, the container)", file=sys.stderr)
        return 2
    print(f"load average at start: {os.getloadavg()}")
    work = tempfile.mkdtemp(prefix="bst-bench-kill-")
    root = os.path.join(work, "root")
    cid = f"bst-bench-kill-{os.getpid()}"
    runc = [os.path.join(BIN, "bastion-runc"), "--root", root]
    watch = None
    env = dict(os.environ)
    if args.stages:
        if os.path.exists(args.stages):
            os.unlink(args.stages)  # the watch appends
        env[ENV] = args.stages
    stages: list[Stages] = []
    try:
        bundle = os.path.join(work, "bundle")
        os.makedirs(bundle)
        print(f"rootfs: {host.make_rootfs(os.path.join(bundle, 'rootfs'))}")
        spec = host.base_spec(None, ["sh", "-c", script(args.kills, args.pings)])
        spec["root"] = {"path": "rootfs", "readonly": False}
        host.write_config(bundle, spec, f"/bastion-bench/{cid}")
        rules = os.path.join(work, "rules.yaml")
        with open(rules, "w") as f:
            f.write(RULES)
        subprocess.run([*runc, "create", "--bundle", bundle, cid], check=True)
        watch = subprocess.Popen(
            [
                os.path.join(BIN, "bastion"),
                "--root",
                root,
                "watch",
                "-o",
                "json",
                "-r",
                rules,
                "--container",
                cid,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert watch.stderr is not None
        assert watch.stdout is not None
        for line in watch.stderr:
            if line.startswith("bastion: in-kernel kill"):
                print(line.strip())
            if line.startswith("bastion: watching"):
                break
        subprocess.run([*runc, "start", cid], check=True)
        # the bench is the measuring instrument: its own wait for the CPU on a loaded machine
        # must not count as the watch's latency (set after the watch and the container were
        # started, so they keep the default priority)
        os.setpriority(os.PRIO_PROCESS, 0, -10)
        received: list[tuple[int, int, dict[str, object]]] = []  # (ns read, boot ns, alert)
        go = False
        sched_start = sched = [0, 0]
        pings = 0
        pending = b""
        deadline = time.monotonic() + 120 + args.pings * 0.05
        while pings < args.pings + 1 and time.monotonic() < deadline:
            if not select.select([watch.stdout], [], [], 0.5)[0]:
                continue
            # os.read, not a buffered reader: a second line of one read must not wait unseen
            pending += os.read(watch.stdout.fileno(), 1 << 16)
            now, boot = time.time_ns(), time.clock_gettime_ns(time.CLOCK_BOOTTIME)
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                if not raw.strip():
                    continue
                alert = json.loads(raw)
                received.append((now, boot, alert))
                if alert["rule"] == "bench ping":
                    pings += 1
                    if not go:  # the container's first command was seen: its cgroup is armed
                        open(os.path.join(bundle, "rootfs/tmp/bst-go"), "w").close()
                        go = True
                        sched_start = schedstat(watch.pid)
        sched = [b - a for a, b in zip(sched_start, schedstat(watch.pid), strict=True)]
        time.sleep(0.5)
        watch.send_signal(signal.SIGINT)
        out, err = watch.communicate(timeout=60)
        late = time.time_ns(), time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        received.extend((*late, json.loads(x)) for x in out.splitlines() if x.strip())
        if args.stages:
            stages = read_trace(args.stages)
    finally:
        if watch is not None and watch.poll() is None:
            watch.kill()
            watch.communicate()
        subprocess.run([*runc, "delete", "--force", cid], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)
        host.remove_cgroups(cid)
    execs: dict[int, tuple[str, int, str]] = {}
    exits: dict[int, int] = {}
    latencies = []
    pinged: list[tuple[int, int]] = []  # (probe timestamp as epoch ns, boot ns read)
    for read_ns, boot_read, alert in received[1:]:  # the first ping was the marker
        fields = alert["output_fields"]
        assert isinstance(fields, dict)
        kind = {"bench ping": "ping", "bench victim": "victim", "bench slow victim": "slow"}.get(
            str(alert["rule"]), "exit"
        )
        if kind == "ping":
            latencies.append((read_ns - int(fields["evt.rawtime"])) / 1e6)
            pinged.append((int(fields["evt.rawtime"]), boot_read))
        elif kind in ("victim", "slow"):
            execs[int(fields["proc.pid"])] = (
                kind,
                int(fields["evt.rawtime"]),
                str(alert.get("action")),
            )
        elif kind == "exit":
            exits[int(fields["proc.pid"])] = int(fields["evt.rawtime"])
    print(f"load average at end: {os.getloadavg()}")
    for kind, label in (("victim", "in-kernel kill"), ("slow", "user-space kill")):
        times = [
            (exits[pid] - ts) / 1e6
            for pid, (k, ts, _) in execs.items()
            if k == kind and pid in exits
        ]
        actions = sorted({a for k, _, a in execs.values() if k == kind})
        if times:
            print(
                f"time to kill, {label}: n={len(times)} p50 {pct(times, 0.5):.3f} ms "
                f"p99 {pct(times, 0.99):.3f} ms (alerts say {actions})"
            )
    print(
        f"the watch's threads from the first ping to the last alert: {sched[0] / 1e6:.0f} ms "
        f"on a CPU, {sched[1] / 1e6:.0f} ms runnable but waiting for one"
    )
    if latencies:
        print(
            f"alert latency (probe timestamp -> JSON line read): n={len(latencies)} "
            f"p50 {pct(latencies, 0.5):.2f} ms p99 {pct(latencies, 0.99):.2f} ms"
        )
    if stages:
        print_stages(stages, pinged)
    stats = [
        line
        for line in err.splitlines()
        if "killed" in line or "dropped" in line or "in the kernel" in line
    ]
    print("\n".join(stats))
    return 0


if __name__ == "__main__":
    host.run_main(main)
