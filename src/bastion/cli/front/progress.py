"""The progress display of `pull` and `push`: a rich bar per blob on a terminal (stderr), one
line per finished blob otherwise, nothing when quiet. The callback is called from the
transfer threads: rich's Progress is thread-safe, the task table has its own lock."""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from rich.progress import TaskID

    from bastion.images import PullProgress

#: What each kind of transfer says of a blob that was already there, and of one moved.
PULL_WORDS = ("already exists", "pull complete")
PUSH_WORDS = ("layer already exists", "pushed")


@contextlib.contextmanager
def transfer_progress(
    quiet: bool, words: tuple[str, str] = PULL_WORDS
) -> Iterator[Callable[[PullProgress], None] | None]:
    if quiet:
        yield None
        return
    if not sys.stderr.isatty():

        def line(step: PullProgress) -> None:
            if step.state in ("present", "done"):
                what = words[0] if step.state == "present" else words[1]
                sys.stderr.write(f"{step.digest[7:19]}: {what}\n")

        yield line
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
                description = f"{step.digest[7:19]} {words[0]}"
                bars.update(task, completed=step.total, description=description)
            else:
                bars.update(task, completed=step.done, total=step.total or None)

        yield report
