"""`bastion exec [-i] [-t] [-d] [-u USER] [-e K=V] [-w DIR] CONTAINER CMD...`: run a process in
a running container (engine/exec.py) and exit with its status: 126 when it cannot be
executed, 127 when it is not found, as `docker exec`. With `-t` it gets a new pty, which we copy
to and from our terminal (raw, resized with ours); with `-d` we return once it runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "run a command in a running container"
ERROR_STATUS = 125  # the engine's own failures; 126/127 are the command's


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--interactive", action="store_true", help="keep stdin open")
    parser.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-terminal")
    parser.add_argument("-d", "--detach", action="store_true", help="run it in the background")
    parser.add_argument("-u", "--user", help="name|uid[:group|gid]")
    parser.add_argument("-e", "--env", action="append", default=[], help="KEY=VALUE or KEY")
    parser.add_argument("-w", "--workdir", help="working directory inside the container")
    parser.add_argument("container", metavar="CONTAINER")
    parser.add_argument("command", nargs="...", metavar="COMMAND")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine
    from bastion.engine import ExecConfig

    config = ExecConfig(
        command=tuple(args.command),
        user=args.user,
        env=tuple(args.env),
        workdir=args.workdir,
        tty=args.tty,
        interactive=args.interactive,
        detach=args.detach,
    )
    with open_engine(args) as engine:
        session = engine.exec(args.container, config)
    if args.detach:
        if session.master is not None:
            import os

            os.close(session.master)
        return 0
    if session.master is not None:
        from bastion.cli.runc.tty import TerminalProxy

        proxy = TerminalProxy(session.master)
        proxy.start()
        try:
            proxy.copy_until_closed()
        finally:
            proxy.stop()
    return session.wait()
