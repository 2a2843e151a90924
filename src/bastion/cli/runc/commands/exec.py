"""bastion-runc exec: run a new process in a running container (runc's flags)."""

from __future__ import annotations

from bastion.cli.runc.args import Option, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bastion.cli.runc.main import Context
    from bastion.oci.spec import Process
    from bastion.runtime.container import Container

SUMMARY = "execute a new process inside a container"
ARGUMENTS = "ID [COMMAND [ARG...]]"
STOP_AT_POSITIONAL = True
OPTIONS = [
    Option(
        "--process,-p", "str", None, "a process.json to run (other process flags ignored)", "FILE"
    ),
    Option("--tty,-t", "bool", help="allocate a pseudo-terminal"),
    Option("--detach,-d", "bool", help="return once the process runs"),
    Option("--console-socket", "str", None, "unix socket that receives the pty master", "PATH"),
    Option("--pid-file", "str", None, "write the process's pid here", "FILE"),
    Option("--cwd", "str", None, "working directory inside the container", "DIR"),
    Option("--env,-e", "str", repeat=True, help="add an environment variable NAME=value"),
    Option("--user,-u", "str", None, "UID[:GID] to run as", "UID[:GID]"),
    Option("--additional-gids,-g", "int", repeat=True, help="add a supplementary group"),
    Option("--cap,-c", "str", repeat=True, help="add a capability (e.g. CAP_NET_ADMIN)"),
    Option("--no-new-privs", "bool", help="set no_new_privs"),
    Option("--preserve-fds", "int", 0, "pass this many extra fds (from 3)", "N"),
    Option("--process-label", "str", None, "accepted for compatibility (no SELinux here)"),
    Option("--apparmor", "str", None, "accepted for compatibility (no AppArmor here)"),
    Option("--ignore-paused", "bool", help="accepted for compatibility"),
]


def run(ctx: Context, values: dict[str, Any], positional: list[str]) -> int:
    from bastion._record import replace
    from bastion.cli.runc.forwarding import Forwarder
    from bastion.runtime.container import Container
    from bastion.runtime.tenant import ExecOptions, exec_process

    if not positional:
        raise UsageError("exec needs a container id", hint="bastion-runc exec ID COMMAND")
    container = Container.load(ctx.root, positional[0])
    process = _process(container, values, positional[1:])
    opts = ExecOptions(
        process=process,
        detach=values["detach"],
        pid_file=values["pid_file"],
        console_socket=values["console_socket"],
        preserve_fds=values["preserve_fds"],
    )
    masters: list[int] = []
    if process.terminal and not values["detach"] and not values["console_socket"]:
        opts = replace(opts, console_receiver=lambda fd, _name: masters.append(fd))
    # Before the process exists: its command may already run when exec_process returns.
    forwarder = None if values["detach"] else Forwarder()
    pid = exec_process(container, opts)
    if forwarder is None:
        return 0
    forwarder.target(pid)
    if masters:
        from bastion.cli.runc.tty import TerminalProxy

        proxy = TerminalProxy(masters[0])
        proxy.start()
        try:
            proxy.copy_until_closed()
        finally:
            proxy.stop()
    return _wait(pid)


def _wait(pid: int) -> int:
    """Shell-style exit status of `pid` (our child: exec made us its subreaper)."""
    import os

    _, raw = os.waitpid(pid, 0)  # PEP 475: retried on EINTR after the signal handlers ran
    return 128 + os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.WEXITSTATUS(raw)


def _process(container: Container, values: dict[str, Any], command: list[str]) -> Process:
    """The process to run: --process FILE as is, or the container's own process with the
    command and flags applied (runc's getProcess)."""
    from bastion._record import replace
    from bastion.oci.decode import decode_process
    from bastion.oci.spec import LinuxCapabilities, User

    if values["process"]:
        with open(values["process"], "rb") as f:
            return decode_process(f.read(), source=values["process"])
    if not command:
        raise UsageError("exec needs a command (or --process FILE)")
    base = container.spec().process
    assert base is not None
    user = base.user
    if values["user"]:
        uid, _, gid = values["user"].partition(":")
        try:
            user = User(uid=int(uid), gid=int(gid) if gid else 0)
        except ValueError:
            raise UsageError(f"--user takes UID[:GID] numbers, not {values['user']!r}") from None
    if values["additional_gids"]:
        user = replace(user, additional_gids=tuple(values["additional_gids"]))
    caps = base.capabilities
    if values["cap"]:
        caps = caps or LinuxCapabilities()
        extra = tuple(values["cap"])
        caps = replace(
            caps,
            bounding=caps.bounding + extra,
            effective=caps.effective + extra,
            permitted=caps.permitted + extra,
            # runc: ambient only if the spec already has inheritable capabilities
            ambient=caps.ambient + extra if caps.inheritable else caps.ambient,
        )
    return replace(
        base,
        args=tuple(command),
        terminal=values["tty"],
        cwd=values["cwd"] or base.cwd,
        env=base.env + tuple(values["env"]),
        user=user,
        capabilities=caps,
        no_new_privileges=base.no_new_privileges or values["no_new_privs"],
        console_size=None,
    )
