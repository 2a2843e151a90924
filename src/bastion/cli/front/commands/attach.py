"""`bastion attach [--no-stdin] CONTAINER`: connect our terminal (or stdio) to a running
container through its monitor: its output from now on, its stdin if it was made with `-i`, its
terminal's size with `-t`; Ctrl-P Ctrl-Q detaches. Exits with the container's status when it
ends, as `docker attach`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "attach to a running container's stdio"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-stdin", action="store_true", help="do not attach stdin")
    parser.add_argument("container", metavar="CONTAINER")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.attached import proxy_signals, stream
    from bastion.cli.front.engine_args import open_engine

    with open_engine(args) as engine:
        record = engine.container(args.container)
        with engine.attach(record.id) as attachment:
            tty = bool(record.config.get("tty"))
            if not tty:
                proxy_signals(lambda sig: engine.kill(record.id, sig))
            stdin = not args.no_stdin and bool(record.config.get("interactive"))
            if stream(attachment, stdin=stdin, tty=tty):
                return 0
        return engine.wait(record.id)
