"""bastion-runc create: set the container up; its process starts only at `start`."""

from __future__ import annotations

from bastion.cli.runc.args import Option, UsageError
from bastion.cli.runc.main import require_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bastion.cli.runc.main import Context
    from bastion.runtime.create import CreateOptions

SUMMARY = "create a container from a bundle; `start` runs its process"
ARGUMENTS = "ID"
OPTIONS = [
    Option("--bundle,-b", "str", ".", "bundle directory (holds config.json)", "DIR"),
    Option("--pid-file", "str", None, "write the container's pid here", "FILE"),
    Option("--console-socket", "str", None, "unix socket that receives the pty master", "PATH"),
    Option("--no-pivot", "bool", help="use chroot instead of pivot_root (ramfs roots)"),
    Option("--no-new-keyring", "bool", help="accepted for compatibility"),
    Option("--preserve-fds", "int", 0, "pass this many extra fds (from 3) to the container", "N"),
]


def options(ctx: Context, values: dict[str, Any], positional: list[str], cmd: str) -> CreateOptions:
    from bastion.runtime.create import CreateOptions

    if ctx.systemd_cgroup:
        raise UsageError(
            "the systemd cgroup driver is not supported",
            hint="drop --systemd-cgroup (use cgroupfs paths; Podman: --cgroup-manager=cgroupfs)",
            reference="systemd-cgroup-unsupported",
        )
    return CreateOptions(
        id=require_id(positional, cmd),
        bundle=values["bundle"],
        root=ctx.root,
        pid_file=values["pid_file"],
        console_socket=values["console_socket"],
        no_pivot=values["no_pivot"],
        preserve_fds=values["preserve_fds"],
        # this process exits after the verb (`run` waits, and its `start` puts its own command
        # line back): the init may run in its memory until it execs (init/shared_memory.py)
        shared_memory_init=True,
    )


def run(ctx: Context, values: dict[str, Any], positional: list[str]) -> int:
    from bastion.runtime.create import create

    create(options(ctx, values, positional, "create"))
    return 0
