"""What the engine's event log (engine/events_log.py) adds to `bastion run --rm`, beside
Podman's own file event logger measured the same way.

    .venv/bin/python bench/events_log.py [--runs N]

A `run --rm` logs four events (create, start, die, destroy): one O_APPEND write each. Rows,
each run once per round in an order rotated each round (bench/timing.py):
- `4 events` : the four `EventLog.record` calls a `run --rm` makes, in this process, into the
  bench engine's own log (so on the same file system, the log growing as it does);
- `bastion run --rm` : the whole run, the CLI and every process it leaves (bench/engine_run.py);
- `podman run --rm` with `--events-backend none` and with `--events-backend file`: the
  reference, whose paired difference is what Podman's file logger costs it.
Prints medians and the share of the run the events take, CPU included; the load average too.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "helpers")
)

from bench.engine_run import PODMAN_LIMITS, TreeLocal, engines
from bench.timing import Row, Sample, Spawner, Step, paired_ratio, report, run_rounds


def _engine_root(bastion: list[str]) -> str:
    return bastion[bastion.index("--root") + 1]


def four_events(root: str) -> Sample:
    from bastion.engine.events_log import EventLog
    from bastion.engine.metadata import ContainerRecord

    record = ContainerRecord(
        id=os.urandom(32).hex(),
        name="bst-bench-events",
        image="127.0.0.1:5000/busybox:latest",
        image_digest="sha256:" + "0" * 64,
        image_id="sha256:" + "1" * 64,
        created=time.time(),
        status="created",
        exit_code=None,
        oom_killed=False,
        pid=0,
        started=None,
        finished=None,
        config={"labels": {}},
    )
    log = EventLog(root)  # as `Engine.event_log` makes it, once per verb
    cpu, start = time.thread_time_ns(), time.perf_counter_ns()
    log.container(record, "create")
    log.container(record, "start")
    log.container(record, "die", exitCode="0")
    log.container(record, "destroy")
    return Sample(time.perf_counter_ns() - start, cpu_ns=time.thread_time_ns() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    with engines() as (bastion, podman, image), tempfile.TemporaryDirectory() as tmp:
        spawner = Spawner(os.path.join(tmp, "stderr"), 60)
        local = TreeLocal(spawner)
        root = _engine_root(bastion)
        none = ("--network", "none")

        def podman_run(backend: str) -> Sample:
            argv = [*podman, "--events-backend", backend, "run", "--rm", *none, *PODMAN_LIMITS]
            return local.measure([Step([*argv, image, "true"])])

        # the bench's podman argv says `--events-backend none`; a later flag wins
        rows = [
            Row("4 events (in process)", "EventLog.record x4", lambda: four_events(root)),
            Row(
                "bastion run --rm",
                "bastion run --rm --network none IMAGE true",
                lambda: local.measure([Step([*bastion, "run", "--rm", *none, image, "true"])]),
            ),
            Row("podman run --rm (events: none)", "podman ... none", lambda: podman_run("none")),
            Row("podman run --rm (events: file)", "podman ... file", lambda: podman_run("file")),
        ]
        try:
            run_rounds("events", rows, args.runs, args.warmup)
        finally:
            spawner.close()
        report("events", "the event log's cost in a run --rm", rows)
        events, run, p_none, p_file = rows

        def med(values: list[int | None]) -> float:
            ok = sorted(v for v in values if v is not None)
            return ok[len(ok) // 2] / 1e6 if ok else float("nan")

        share = paired_ratio(events.samples_ns, run.samples_ns)
        cpu_share = paired_ratio(events.cpu_ns, run.cpu_ns)
        podman_ratio = paired_ratio(p_file.samples_ns, p_none.samples_ns)
        print(
            f"\nbastion: the 4 events take {med(events.samples_ns):.3f} ms "
            f"({med(events.cpu_ns):.3f} ms CPU) of a {med(run.samples_ns):.1f} ms run "
            f"({med(run.cpu_ns):.1f} ms CPU): {100 * (share or 0):.2f}% of the time, "
            f"{100 * (cpu_share or 0):.2f}% of the CPU"
        )
        print(
            f"podman: file/none = {podman_ratio or float('nan'):.3f} "
            f"({med(p_file.samples_ns):.1f} vs {med(p_none.samples_ns):.1f} ms median)"
        )
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
