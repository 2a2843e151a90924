"""`bastion dashboard [--interval S] [-a] [--alerts N] [--container NAME]`: a live terminal view
of the engine's containers (CPU %, memory, pids, alert count) and the latest alerts the sensor
stored (new ones streamed in as they are stored), redrawn every interval with rich's Live; `q`
(or Ctrl-C) quits. The data is `engine.dashboard`'s."""

from __future__ import annotations

import contextlib
import os
import select
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator

    from rich.console import RenderableType

    from bastion.engine.dashboard import Snapshot

HELP = "live view of the containers and the sensor's latest alerts (q quits)"

#: Alert priorities by colour, worst first (Falco's names).
PRIORITY_STYLE = {
    "Emergency": "bold red",
    "Alert": "bold red",
    "Critical": "bold red",
    "Error": "red",
    "Warning": "yellow",
    "Notice": "cyan",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--interval", type=float, default=1.0, metavar="S", help="seconds between redraws (1)"
    )
    parser.add_argument("-a", "--all", action="store_true", help="stopped containers too")
    parser.add_argument(
        "--alerts", type=int, default=10, metavar="N", help="how many of the latest alerts (10)"
    )
    parser.add_argument(
        "--container",
        metavar="NAME",
        help="only this container (name, id or id prefix) and its alerts",
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.live import Live

    from bastion.cli.front.engine_args import open_engine
    from bastion.engine.dashboard import Dashboard

    check_options(args)
    console = Console()
    with open_engine(args) as engine, _keys() as pressed:
        dashboard = Dashboard(
            engine, all_containers=args.all, alert_lines=args.alerts, container=args.container
        )
        with dashboard, Live(console=console, auto_refresh=False, transient=False) as live:
            try:
                while True:
                    live.update(render(dashboard.snapshot(), args.interval), refresh=True)
                    if pressed(args.interval):
                        return 0
            except KeyboardInterrupt:
                return 0


def check_options(args: argparse.Namespace) -> None:
    """Refuse an interval that is not a positive number of seconds (NaN included) and a
    negative alert count, before anything is drawn."""
    from bastion.engine import InvalidOptionError

    if not args.interval > 0 or args.interval == float("inf"):
        raise InvalidOptionError(
            f"--interval {args.interval}: not a positive number of seconds",
            hint="e.g. --interval 0.5",
        )
    if args.alerts < 0:
        raise InvalidOptionError(f"--alerts {args.alerts}: not a count", hint="e.g. --alerts 10")


@contextlib.contextmanager
def _keys() -> Iterator[Callable[[float], bool]]:
    """A function that waits up to S seconds and says whether `q` was pressed; on a terminal,
    stdin is in cbreak mode (keys arrive unbuffered, not echoed; Ctrl-C still interrupts)
    until the block ends. Without a terminal it only waits."""
    fd = sys.stdin.fileno() if sys.stdin is not None else -1
    if fd < 0 or not os.isatty(fd):

        def sleep(seconds: float) -> bool:
            time.sleep(seconds)
            return False

        yield sleep
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)

    def pressed(seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            keys = os.read(fd, 64)
            if b"q" in keys.lower():
                return True
            if not keys:  # the terminal hung up: nothing more to read, only wait
                time.sleep(max(0.0, deadline - time.monotonic()))
        return False

    try:
        yield pressed
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def render(snapshot: Snapshot, interval: float) -> RenderableType:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from bastion.cli.front.engine_args import binary_size

    containers = Table(
        title=f"bastion: {len(snapshot.containers)} containers, {snapshot.total_alerts} alerts "
        f"(every {interval:g} s; q quits)",
        title_justify="left",
        expand=True,
    )
    for column in ("CONTAINER ID", "NAME", "IMAGE", "STATUS"):
        containers.add_column(column, no_wrap=True)
    for column in ("CPU %", "MEM USAGE / LIMIT", "PIDS", "ALERTS"):
        containers.add_column(column, justify="right", no_wrap=True)
    for row in snapshot.containers:
        memory = (
            f"{binary_size(row.memory_usage)} / {binary_size(row.memory_limit)}"
            if row.memory_usage is not None and row.memory_limit is not None
            else "-"
        )
        containers.add_row(
            row.id,
            row.name,
            row.image,
            row.status,
            "-" if row.cpu_percent is None else f"{row.cpu_percent:.1f}%",
            memory,
            "-" if row.pids is None else str(row.pids),
            Text(str(row.alerts), style="bold red" if row.alerts else ""),
        )
    alerts = Table(title="latest alerts", title_justify="left", expand=True)
    alerts.add_column("TIME", no_wrap=True)
    alerts.add_column("PRIORITY", no_wrap=True)
    alerts.add_column("CONTAINER", no_wrap=True)
    alerts.add_column("RULE", no_wrap=True)
    alerts.add_column("OUTPUT", no_wrap=True, overflow="ellipsis", ratio=1)
    for line in snapshot.alerts:
        alerts.add_row(
            time.strftime("%H:%M:%S", time.localtime(line.time_ns / 1e9)),
            Text(line.priority, style=PRIORITY_STYLE.get(line.priority, "")),
            line.container,
            line.rule,
            " ".join(line.output.split()),
        )
    return Group(containers, alerts)
