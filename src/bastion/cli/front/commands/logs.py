"""`bastion logs [--tail N] [-f] CONTAINER`: what a container wrote, each line to the stream it
was written to."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "show a container's output"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tail", default="all", help="only the last N lines")
    parser.add_argument("-f", "--follow", action="store_true", help="follow until it ends")
    parser.add_argument("-t", "--timestamps", action="store_true", help="show the times")
    parser.add_argument("container")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine
    from bastion.engine import InvalidOptionError

    if args.tail == "all":
        tail = None
    elif args.tail.isdigit():
        tail = int(args.tail)
    else:
        raise InvalidOptionError(f"invalid --tail {args.tail!r}", hint="a number or all")
    out, err = sys.stdout.buffer, sys.stderr.buffer
    with open_engine(args) as engine:
        for line in engine.logs(args.container, tail=tail, follow=args.follow):
            stream = err if line.stream == "stderr" else out
            if args.timestamps:
                stream.write(line.time.encode() + b" ")
            stream.write(line.text if line.partial else line.text + b"\n")
            stream.flush()
    return 0
