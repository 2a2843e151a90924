"""`bastion run IMAGE [COMMAND...]`: create and start a container; in the foreground, print its
output and exit with its status (Docker's: 125 engine, 126/127 command, else the container's);
with `-d`, print its id and leave it to its monitor. With `-i`/`-t` the CLI attaches to the
monitor before the process starts (cli/front/attached.py): a real terminal with `-t`, our stdin
piped in with `-i`; Ctrl-P Ctrl-Q detaches."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from bastion.engine import Attachment, ContainerOptions, ContainerRecord, Engine

HELP = "run a command in a new container"
ADD_HELP = False  # -h is --hostname, as in Docker
ERROR_STATUS = 125  # any failure but the command's own (126/127), as `docker run`


def configure(parser: argparse.ArgumentParser) -> None:
    from bastion.cli.front.engine_args import add_container_options

    parser.add_argument("-d", "--detach", action="store_true", help="print the id and return")
    parser.add_argument(
        "--watch",
        action="store_true",
        help="watch it with the sensor (`bastion sensor`, started if none runs); alerts go to "
        "the engine's alert store (`bastion alerts --db ROOT/alerts.db`, `bastion inspect`)",
    )
    add_container_options(parser)


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.attached import proxy_signals
    from bastion.cli.front.engine_args import container_options, open_engine

    options = container_options(args)
    with open_engine(args) as engine:
        if args.watch:
            engine.ensure_sensor()  # before the container exists: its first syscall is seen
        if (args.interactive or args.tty) and not args.detach:
            return _run_attached(engine, args, options)
        record = engine.run(args.image, options)
        if args.detach:
            sys.stdout.write(f"{record.id}\n")
            return 0
        # Docker's --sig-proxy (on by default): what the foreground run gets, the container gets
        proxy_signals(lambda sig: engine.kill(record.id, sig))
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


def _run_attached(engine: Engine, args: argparse.Namespace, options: ContainerOptions) -> int:
    """`run -i`/`-t` in the foreground: attached before the process starts, so nothing it
    writes is missed; its status once the monitor closes the connection."""
    from bastion.cli.front.attached import proxy_signals, stream

    attached: list[Attachment] = []

    def connect(record: ContainerRecord) -> None:
        attached.append(engine.attach(record.id))

    record = engine.run(args.image, options, on_created=connect)
    if not args.tty:  # with a terminal, Ctrl-C is a byte for the container's pty
        proxy_signals(lambda sig: engine.kill(record.id, sig))
    with attached[0] as attachment:
        detached = stream(attachment, stdin=args.interactive, tty=args.tty)
    if detached:  # it runs on under its monitor; `bastion attach` finds it again
        if args.rm:
            engine.detached(record.id)  # its monitor's exit command removes it
        return 0
    status = engine.wait(record.id)
    if args.rm:
        engine.remove(record.id, force=True)
    return status
