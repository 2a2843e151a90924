"""`bastion pull IMAGE`: an image from its registry into the engine's store."""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator

    from rich.progress import TaskID

    from bastion.images import PullProgress

HELP = "pull an image from a registry"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the image's digest")
    parser.add_argument(
        "--tls-verify",
        choices=("true", "false"),
        default=None,
        help="verify the registry's TLS certificate (default: yes, except for loopback)",
    )
    parser.add_argument("image")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine

    tls = None if args.tls_verify is None else args.tls_verify == "true"
    with open_engine(args) as engine, _progress(args.quiet) as report:
        record = engine.pull(args.image, tls_verify=tls, progress=report)
    if args.quiet:
        sys.stdout.write(f"{record.digest}\n")
    else:
        sys.stdout.write(f"Digest: {record.digest}\nPulled: {record.name}\n")
    return 0


@contextlib.contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[PullProgress], None] | None]:
    """A rich bar per blob on a terminal, one line per finished blob otherwise, nothing with
    -q. The callback is called from the fetching threads: rich's Progress is thread-safe."""
    if quiet:
        yield None
        return
    if not sys.stderr.isatty():
        yield _line
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    tasks: dict[str, TaskID] = {}
    lock = threading.Lock()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bars:

        def report(step: PullProgress) -> None:
            with lock:
                task = tasks.get(step.digest)
                if task is None:
                    task = tasks[step.digest] = bars.add_task(step.digest[7:19], total=step.total)
            if step.state == "present":
                bars.update(task, completed=step.total, description=f"{step.digest[7:19]} exists")
            else:
                bars.update(task, completed=step.done, total=step.total or None)

        yield report


def _line(step: PullProgress) -> None:
    if step.state in ("present", "done"):
        what = "already exists" if step.state == "present" else "pull complete"
        sys.stderr.write(f"{step.digest[7:19]}: {what}\n")
