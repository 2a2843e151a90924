"""`bastion run IMAGE [COMMAND...]`: create and start a container; in the foreground, print its
output and exit with its status (Docker's: 125 engine, 126/127 command, else the container's);
with `-d`, print its id and leave it to its monitor."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

HELP = "run a command in a new container"
ADD_HELP = False  # -h is --hostname, as in Docker
ERROR_STATUS = 125  # any failure but the command's own (126/127), as `docker run`


def configure(parser: argparse.ArgumentParser) -> None:
    from bastion.cli.front.engine_args import add_container_options

    parser.add_argument("-d", "--detach", action="store_true", help="print the id and return")
    add_container_options(parser)


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import container_options, open_engine

    options = container_options(args)
    with open_engine(args) as engine:
        record = engine.run(args.image, options)
        if args.detach:
            sys.stdout.write(f"{record.id}\n")
            return 0
        # Docker's --sig-proxy (on by default): what the foreground run gets, the container gets
        _proxy_signals(lambda sig: engine.kill(record.id, sig))
        try:
            out, err = sys.stdout.buffer, sys.stderr.buffer
            for line in engine.logs(record.id, follow=True):
                stream = err if line.stream == "stderr" else out
                stream.write(line.text if line.partial else line.text + b"\n")
                stream.flush()
            status = engine.wait(record.id)
        finally:
            if args.rm:
                engine.remove(record.id, force=True)
    return status


def _proxy_signals(send: Callable[[int], None]) -> None:
    import contextlib
    import signal

    def forward(sig: int, frame: object) -> None:
        with contextlib.suppress(Exception):  # it may have ended meanwhile
            send(sig)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1):
        signal.signal(sig, forward)
