"""`bastion create IMAGE [COMMAND...]`: make a container (not started); prints its id."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "create a container from an image"
ADD_HELP = False  # -h is --hostname, as in Docker
ERROR_STATUS = 125  # any failure but the command's own (126/127), as `docker run`


def configure(parser: argparse.ArgumentParser) -> None:
    from bastion.cli.front.engine_args import add_container_options

    add_container_options(parser)


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import container_options, open_engine

    with open_engine(args) as engine:
        record = engine.create(args.image, container_options(args))
    sys.stdout.write(f"{record.id}\n")
    return 0
