"""`bastion system service`: the engine as a whole."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "manage the engine (service)"


def configure(parser: argparse.ArgumentParser) -> None:
    from bastion.cli.front.commands.system_service import add_parser

    sub = parser.add_subparsers(dest="system_command", required=True, metavar="COMMAND")
    add_parser(sub)


def run(args: argparse.Namespace) -> int:  # the sub-verb's `func` replaces this
    raise AssertionError(args)
