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
`--stages` also asks the watch for its latency trace (`bastion.sensor.latency_trace`) and prints
where the time goes per block of exec/exit records: probe -> copied out of the ring by the
reader thread -> taken from the spill by the evaluation -> rules and outputs done.
"""

from __future__ import annotations

import argparse
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
        from bastion.sensor.latency_trace import ENV

        if os.path.exists(args.stages):
            os.unlink(args.stages)  # the watch appends
        env[ENV] = args.stages
    stages = []
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
        received: list[tuple[int, dict[str, object]]] = []  # (ns read, alert)
        go = False
        pings = 0
        pending = b""
        deadline = time.monotonic() + 120 + args.pings * 0.05
        while pings < args.pings + 1 and time.monotonic() < deadline:
            if not select.select([watch.stdout], [], [], 0.5)[0]:
                continue
            # os.read, not a buffered reader: a second line of one read must not wait unseen
            pending += os.read(watch.stdout.fileno(), 1 << 16)
            now = time.time_ns()
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                if not raw.strip():
                    continue
                alert = json.loads(raw)
                received.append((now, alert))
                if alert["rule"] == "bench ping":
                    pings += 1
                    if not go:  # the container's first command was seen: its cgroup is armed
                        open(os.path.join(bundle, "rootfs/tmp/bst-go"), "w").close()
                        go = True
        time.sleep(0.5)
        watch.send_signal(signal.SIGINT)
        out, err = watch.communicate(timeout=60)
        received.extend((time.time_ns(), json.loads(x)) for x in out.splitlines() if x.strip())
        if args.stages:
            from bastion.sensor.latency_trace import read_trace

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
    for read_ns, alert in received[1:]:  # the first ping was the marker
        fields = alert["output_fields"]
        assert isinstance(fields, dict)
        kind = {"bench ping": "ping", "bench victim": "victim", "bench slow victim": "slow"}.get(
            str(alert["rule"]), "exit"
        )
        if kind == "ping":
            latencies.append((read_ns - int(fields["evt.rawtime"])) / 1e6)
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
    if latencies:
        print(
            f"alert latency (probe timestamp -> JSON line read): n={len(latencies)} "
            f"p50 {pct(latencies, 0.5):.2f} ms p99 {pct(latencies, 0.99):.2f} ms"
        )
    if stages:
        bulk = [(s.done_ns - s.handed_ns) / 1e6 for s in stages if not s.probe_ns]
        if bulk:
            print(
                f"blocks of bulk records only: n={len(bulk)}, evaluated in "
                f"p50 {pct(bulk, 0.5):.3f} ms p99 {pct(bulk, 0.99):.3f} ms max {max(bulk):.3f} ms"
            )
        stages = [s for s in stages if s.probe_ns]
        print(f"stages (blocks with exec/exit records: n={len(stages)}):")
        for label, times in (
            ("probe -> read from the ring", [(s.read_ns - s.probe_ns) / 1e6 for s in stages]),
            ("read -> taken from the spill", [(s.handed_ns - s.read_ns) / 1e6 for s in stages]),
            ("taken -> rules and outputs done", [(s.done_ns - s.handed_ns) / 1e6 for s in stages]),
        ):
            print(f"  {label:34} p50 {pct(times, 0.5):.3f} ms p99 {pct(times, 0.99):.3f} ms")
    stats = [
        line
        for line in err.splitlines()
        if "killed" in line or "dropped" in line or "in the kernel" in line
    ]
    print("\n".join(stats))
    return 0


if __name__ == "__main__":
    host.run_main(main)
