"""bastion-runc run: create + start, then (unless --detach) wait and delete, like `runc run`."""

from __future__ import annotations

from bastion.cli.runc.args import Option
from bastion.cli.runc.commands.create import OPTIONS as CREATE_OPTIONS
from bastion.cli.runc.commands.create import options
from bastion.cli.runc.forwarding import forward_signals

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


def run(ctx: Context, values: dict[str, Any], positional: list[str]) -> int:
    from bastion._record import replace
    from bastion.runtime.create import create

    opts = options(ctx, values, positional, "run")
    masters: list[int] = []
    if not values["detach"] and not opts.console_socket:
        # A foreground run with `process.terminal` gets the pty master to proxy (runc does this).
        opts = replace(opts, console_receiver=lambda fd, _name: masters.append(fd))
    container = create(opts)
    proxy = None
    try:
        forward_signals(container.pid)
        if masters:
            from bastion.cli.runc.tty import TerminalProxy

            proxy = TerminalProxy(masters[0])
            proxy.start()
        for warning in container.start():
            ctx.log.warning(warning)
    except BaseException:
        if proxy is not None:
            proxy.stop()
        container.delete(force=True)
        raise
    if values["detach"]:
        return 0
    if proxy is not None:
        try:
            proxy.copy_until_closed()
        finally:
            proxy.stop()
    status = container.wait()
    if status == 128 + 9 and container.oom_killed():
        ctx.log.warning(f"container {container.id} was killed by the kernel's OOM killer")
    if not values["keep"]:
        for warning in container.delete(force=True):
            ctx.log.warning(warning)
    return status
