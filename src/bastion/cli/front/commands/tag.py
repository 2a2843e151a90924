"""`bastion tag SOURCE TARGET`: another name for an image."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "give an image another name"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="SOURCE_IMAGE", help="a name or an id prefix")
    parser.add_argument("target", metavar="TARGET_IMAGE", help="[registry/]repository[:tag]")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine

    with open_engine(args) as engine:
        engine.tag(args.source, args.target)
    return 0
