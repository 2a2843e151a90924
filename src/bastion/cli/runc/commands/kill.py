"""bastion-runc kill: send a signal (name or number, default SIGTERM) to the container."""

from __future__ import annotations

from bastion.cli.runc.args import Option, UsageError
from bastion.cli.runc.main import require_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bastion.cli.runc.main import Context

SUMMARY = "send a signal to the container's init (or, with --all, every process in it)"
ARGUMENTS = "ID [SIGNAL]"
OPTIONS = [Option("--all,-a", "bool", help="signal every process in the container's cgroup")]


def run(ctx: Context, values: dict[str, Any], positional: list[str]) -> int:
    from bastion._sys.signals import parse_signal
    from bastion.runtime.container import Container

    container_id = require_id(positional, "kill", extra=1)
    try:
        sig = parse_signal(positional[1] if len(positional) > 1 else "SIGTERM")
    except ValueError as exc:
        raise UsageError(str(exc), hint="use a name such as KILL or SIGTERM, or a number") from None
    Container.load(ctx.root, container_id).kill(sig, all_processes=values["all"])
    return 0
