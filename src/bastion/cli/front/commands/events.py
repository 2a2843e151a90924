"""`bastion events`: print events, live or from a capture, one per line like sysdig.

Three sources give batches of decoded `Event`s: the live probe (with the state tables seeded
from /proc), a bastion capture (`-r FILE.bcap`: its records decoded by the live decoder, the
state seeded from the file's snapshot) and a Falco/sysdig `.scap` file (`-r FILE.scap`: the
scap decoder, the state seeded from its process and fd lists). Each event goes through the
state (`apply` sets its thread and fd) and is printed as sysdig's default line with the
container id added::

    %evt.num %evt.time %evt.cpu %container.id %proc.name (%thread.tid) %evt.dir %evt.type %evt.args

or as one JSON object per line (`-o json`). The source's counters (what the probe produced,
dropped, skipped) go to stderr at the end, like `bastion capture`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from bastion.cli.front.commands import capture as live

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.sensor.events.model import Event
    from bastion.sensor.sources import Source
    from bastion.sensor.state.model import Container

HELP = "print events: live, from a bastion capture (.bcap) or from a .scap file"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-r", "--read", metavar="FILE", help="read a .bcap or .scap file")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")
    parser.add_argument("-n", "--count", type=int, metavar="N", help="stop after N events")
    parser.add_argument(
        "--list", action="store_true", help="list the events the probe emits and their params"
    )
    parser.add_argument(
        "--decoder-source",
        metavar="TYPE",
        help="print the Python source of the decoder built for event TYPE (e.g. openat)",
    )
    live.add_live_options(parser)


def run(args: argparse.Namespace) -> int:
    if args.list:
        from bastion.sensor.events.docs import text

        sys.stdout.write(text())
        return 0
    if args.decoder_source is not None:
        return _print_decoder_source(args.decoder_source)
    from bastion.cli.front.report import write_statistics
    from bastion.sensor.live import Stopper, statistics

    with Stopper(args.duration) as stop:
        source = open_source(args, stop.done)
        shown = 0
        try:
            shown = _print(source, args)
        finally:
            source.close()
            stats = dict(source.statistics)
            if args.read is None:
                stats.update(
                    (f"state {k.replace('_', ' ')}", v) for k, v in source.state.stats().items()
                )
            write_statistics(statistics({"events shown": shown, **stats}))
    return 0


def _print_decoder_source(name: str) -> int:
    from bastion.sensor.probe.decode import decoder_source

    try:
        sys.stdout.write(decoder_source(name))
    except KeyError:
        sys.stderr.write(f"bastion events: no event {name!r} (bastion events --list)\n")
        return 2
    return 0


def _print(source: Source, args: argparse.Namespace) -> int:
    """Apply and print events until the source ends or `-n` is reached; returns how many."""
    from bastion.sensor.state.model import HOST_CONTAINER

    render = render_json if args.output == "json" else render_text
    wanted = tuple(args.container) if args.read else ()  # live: the probe filters in-kernel
    state = source.state
    shown = 0
    out = sys.stdout
    try:
        for batch in source.batches():
            lines = []
            for event in batch:
                state.apply(event)
                container = state.container_of(event.thread) if event.thread else HOST_CONTAINER
                if wanted and not container.id.startswith(wanted):
                    continue
                lines.append(render(event, container))
                shown += 1
                if shown == args.count:
                    break
            out.write("".join(lines))
            if shown == args.count:
                break
    finally:
        out.flush()
    return shown


def open_source(args: argparse.Namespace, done: Callable[[], bool]) -> Source:
    """The live probe (filtered in the kernel, read until `done()`) or the capture `-r` names."""
    from bastion.sensor.assemble import new_state
    from bastion.sensor.sources import ProbeSource, open_recording

    if args.read is not None:
        return open_recording(args.read, new_state(args.root))
    from bastion.sensor.live import open_probe

    probe = open_probe(live.live_from_args(args))
    return ProbeSource(new_state(args.root, seed=True), probe, done)


# --- rendering -------------------------------------------------------------------------------


_second: list[int | str | None] = [None, ""]


def time_text(ts: int) -> str:
    """Falco's evt.time: local ``HH:MM:SS.nnnnnnnnn`` (the strftime part cached per second)."""
    sec, ns = divmod(ts, 1_000_000_000)
    if _second[0] != sec:
        _second[0] = sec
        _second[1] = time.strftime("%H:%M:%S", time.localtime(sec))
    return f"{_second[1]}.{ns:09d}"


def args_text(event: Event) -> str:
    from bastion.sensor.events.render import args_text as falco_args

    return falco_args(event)


def param_texts(event: Event) -> dict[str, str]:
    from bastion.sensor.events.render import param_text

    return {k: (param_text(event, k) or "") for k in event.params}


def proc_name(event: Event) -> str:
    thread = event.thread
    return thread.comm if thread is not None and thread.comm else "<NA>"


def render_text(event: Event, container: Container) -> str:
    return (
        f"{event.num} {time_text(event.ts)} {event.cpu} {container.short_id} "
        f"{proc_name(event)} ({event.tid}) {event.dir} {event.type} {args_text(event)}\n"
    )


def render_json(event: Event, container: Container) -> str:
    from bastion import jsonio

    doc = {
        "num": event.num,
        "ts": event.ts,
        "time": time_text(event.ts),
        "cpu": event.cpu,
        "tid": event.tid,
        "pid": event.pid,
        "proc": proc_name(event),
        "container": {"id": container.short_id, "name": container.name},
        "type": event.type,
        "dir": event.dir,
        "res": event.res,
        "cgroup_id": event.cgroup_id,
        "params": param_texts(event),
    }
    return jsonio.dumps(doc) + "\n"
