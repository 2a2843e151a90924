"""`bastion inspect NAME...`: Docker's JSON document for each (a JSON array): a container's,
else an image's, as `docker inspect` looks (`--type` picks one)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from bastion.engine import Engine

HELP = "show containers' or images' details as JSON"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--type", choices=("container", "image"), default=None, help="look only at these"
    )
    parser.add_argument("containers", nargs="+", metavar="NAME")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine

    with open_engine(args) as engine:
        docs = [_document(engine, name, args.type) for name in args.containers]
    sys.stdout.write(json.dumps(docs, indent=4) + "\n")
    return 0


def _document(engine: Engine, name: str, kind: str | None) -> dict[str, Any]:
    from bastion.engine import NoSuchContainerError
    from bastion.images import ImageNotFoundError

    if kind == "image":
        return engine.inspect_image(name)
    try:
        return engine.inspect(name)
    except NoSuchContainerError:
        if kind == "container":
            raise
    try:
        return engine.inspect_image(name)
    except ImageNotFoundError:
        raise NoSuchContainerError(f"no such container or image: {name}") from None
