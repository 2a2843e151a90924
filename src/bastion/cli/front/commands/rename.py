"""`bastion rename CONTAINER NEW_NAME`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "rename a container"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("container")
    parser.add_argument("new_name")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine

    with open_engine(args) as engine:
        engine.rename(args.container, args.new_name)
    return 0
