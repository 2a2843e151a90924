"""`bastion start [-a [-i]] CONTAINER...`: start created or stopped containers; with `-a`,
attached to the one container's output (and its stdin with `-i`) until it ends, exiting with
its status, as `docker start -a`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from bastion.engine import Attachment, ContainerRecord

HELP = "start containers"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-a", "--attach", action="store_true", help="attach to its output")
    parser.add_argument("-i", "--interactive", action="store_true", help="attach its stdin")
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine

    if (args.attach or args.interactive) and len(args.containers) > 1:
        from bastion.engine import InvalidOptionError

        raise InvalidOptionError("you cannot start and attach multiple containers at once")
    with open_engine(args) as engine:
        if args.attach or args.interactive:
            from bastion.cli.front.attached import proxy_signals, stream

            attached: list[Attachment] = []

            def connect(record: ContainerRecord) -> None:
                attached.append(engine.attach(record.id))

            record = engine.start(args.containers[0], on_created=connect)
            tty = bool(record.config.get("tty"))
            stdin = args.interactive and bool(record.config.get("interactive"))
            if not tty:
                proxy_signals(lambda sig: engine.kill(record.id, sig))
            with attached[0] as attachment:
                if stream(attachment, stdin=stdin, tty=tty):
                    engine.detached(record.id)  # a `--rm` one: its monitor removes it
                    return 0
            status = engine.wait(record.id)
            if record.config.get("auto_remove"):
                engine.remove(record.id, force=True)
            return status
        for name in args.containers:
            engine.detached(name)  # nobody waits here: a `--rm` one is its monitor's to remove
            engine.start(name)
            sys.stdout.write(f"{name}\n")
    return 0
