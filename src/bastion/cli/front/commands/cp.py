"""`bastion cp [-L] CONTAINER:SRC_PATH DEST_PATH` and `bastion cp [-L] SRC_PATH
CONTAINER:DEST_PATH`: copy between a container (running or not) and the host; paths in the
container are resolved inside its root (docs/engine.md, "cp")."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "copy files between a container and the host"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-L", "--follow-link", action="store_true", help="follow a symlink named as SRC_PATH"
    )
    parser.add_argument("source", metavar="SRC")
    parser.add_argument("destination", metavar="DEST")


def _split(arg: str) -> tuple[str | None, str]:
    """("container", "path") for `CONTAINER:PATH`; (None, path) for a host path (one that
    starts with / or . or has no colon before a slash, as docker's splitCpArg)."""
    if arg.startswith(("/", ".")):
        return None, arg
    name, colon, path = arg.partition(":")
    if not colon or "/" in name:
        return None, arg
    return name, path


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine
    from bastion.engine import InvalidOptionError

    source_container, source = _split(args.source)
    destination_container, destination = _split(args.destination)
    if (source_container is None) == (destination_container is None):
        raise InvalidOptionError(
            "cp copies between a container and the host",
            hint="name the container on one side: CONTAINER:PATH",
        )
    with open_engine(args) as engine:
        if source_container is not None:
            engine.copy_from(source_container, source, destination, follow=args.follow_link)
        else:
            assert destination_container is not None
            engine.copy_to(destination_container, source, destination)
    return 0
