"""bastion-runc run: create + start, then (unless --detach) wait and delete, like `runc run`."""

from __future__ import annotations

import _signal
import os

from bastion.cli.runc.args import Option
from bastion.cli.runc.commands.create import OPTIONS as CREATE_OPTIONS
from bastion.cli.runc.commands.create import options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bastion.cli.runc.main import Context

SUMMARY = "create and start a container; wait for it and return its exit status"
ARGUMENTS = "ID"
OPTIONS = [
    *CREATE_OPTIONS,
    Option("--detach,-d", "bool", help="return once the container runs"),
    Option("--keep", "bool", help="do not delete the container after it exits"),
]

# Signals a foreground `run` passes on to the container, as runc's signal handler does.
_FORWARDED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH")


def run(ctx: Context, values: dict[str, Any], positional: list[str]) -> int:
    from bastion.runtime.create import create

    container = create(options(ctx, values, positional, "run"))
    try:
        _forward_signals(container.pid)
        container.start()
    except BaseException:
        container.delete(force=True)
        raise
    if values["detach"]:
        return 0
    status = container.wait()
    if status == 128 + 9 and container.oom_killed():
        ctx.log.warning(f"container {container.id} was killed by the kernel's OOM killer")
    if not values["keep"]:
        container.delete(force=True)
    return status


def _forward_signals(pid: int) -> None:
    def forward(sig: int, _frame: object) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    for name in _FORWARDED:
        _signal.signal(getattr(_signal, name), forward)
