"""`bastion container COMMAND`: Docker's management form of the container verbs
(`container ls`, `container rm`, ...) and `container prune`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "manage containers (ls, rm, prune, ...)"

#: the top-level verbs `container VERB` also names (`container ls` and `list` are `ps`)
VERBS = (
    *("ps", "create", "run", "start", "stop", "kill", "rm", "wait", "logs", "inspect"),
    *("exec", "attach", "restart", "pause", "unpause", "stats", "top", "cp", "rename", "port"),
)


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="container_command", required=True, metavar="COMMAND")
    prune = sub.add_parser("prune", help="remove every container that is not running")
    prune.add_argument("-f", "--force", action="store_true", help="do not ask")
    prune.set_defaults(func=_prune)
    from bastion.cli.front.main import COMMANDS, add_verb

    for verb in VERBS:
        add_verb(sub, verb, COMMANDS[verb])
    for alias in ("ls", "list"):
        add_verb(sub, alias, COMMANDS["ps"])


def run(args: argparse.Namespace) -> int:  # the sub-verb's `func` replaces this
    raise AssertionError(args)


def _prune(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import confirm, human_size, open_engine

    if not args.force and not confirm(
        "WARNING! This will remove all stopped containers.\n"
        "Are you sure you want to continue? [y/N] "
    ):
        return 0
    with open_engine(args) as engine:
        pruned = engine.prune_containers()
    if pruned.removed:
        sys.stdout.write("Deleted Containers:\n" + "".join(f"{i}\n" for i in pruned.removed))
        sys.stdout.write("\n")
    sys.stdout.write(f"Total reclaimed space: {human_size(pruned.reclaimed)}\n")
    return 0
