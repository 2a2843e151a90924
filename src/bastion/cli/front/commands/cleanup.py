"""`bastion cleanup ID`: what a container's monitor runs when the container ends (conmon's
`--exit-command`, as Podman's `container cleanup`): record its status and remove a `--rm` one.
Not for people; harmless if they run it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "(internal) record an ended container's status; remove it if run with --rm"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("container")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine

    with open_engine(args) as engine:
        engine.cleanup(args.container)
    return 0
