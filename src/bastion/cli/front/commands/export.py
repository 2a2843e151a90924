"""`bastion export [-o FILE] CONTAINER`: the container's filesystem as a tar (its overlay: no
volumes or tmpfs), as `docker export`; `bastion import` makes an image of it again. To
standard output without -o (never to a terminal); -o writes a file beside FILE and renames
it, so a failed export leaves no half file."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "export a container's filesystem as a tar archive"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", help="the file to write (default: standard output)")
    parser.add_argument("container")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine, refuse_archive_to_terminal

    refuse_archive_to_terminal(args.output)
    with open_engine(args) as engine:
        if not args.output:
            sys.stdout.flush()
            engine.export(args.container, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return 0
        partial = f"{args.output}.{os.getpid()}.part"
        try:
            with open(partial, "wb") as out:
                engine.export(args.container, out)
            os.replace(partial, args.output)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
    return 0
