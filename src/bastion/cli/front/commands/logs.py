"""`bastion logs [--tail N] [-f] [-t] [--since T] [--until T] CONTAINER`: what a container
wrote, each line to the stream it was written to."""

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
    parser.add_argument(
        "--since", help="only lines since: RFC 3339 time, Unix seconds, or a duration (10m)"
    )
    parser.add_argument("--until", help="only lines before: as --since")
    parser.add_argument("container")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine
    from bastion.engine import InvalidOptionError
    from bastion.engine.operations import parse_time

    if args.tail == "all":
        tail = None
    elif args.tail.isdigit():
        tail = int(args.tail)
    else:
        raise InvalidOptionError(f"invalid --tail {args.tail!r}", hint="a number or all")
    since = None if args.since is None else parse_time(args.since)
    until = None if args.until is None else parse_time(args.until)
    out, err = sys.stdout.buffer, sys.stderr.buffer
    with open_engine(args) as engine:
        lines = engine.logs(args.container, tail=tail, follow=args.follow, since=since, until=until)
        for line in lines:
            stream = err if line.stream == "stderr" else out
            if args.timestamps:
                stream.write(line.time.encode() + b" ")
            stream.write(line.text if line.partial else line.text + b"\n")
            stream.flush()
    return 0
