"""`bastion container COMMAND`: Docker's management form of the container verbs
(`container ls`, `container rm`, ...) and `container prune`."""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "manage containers (ls, rm, prune, ...)"

#: sub-verb -> the module of the top-level verb it is another name for
ALIASES = {
    "ls": "ps",
    "list": "ps",
    "ps": "ps",
    "create": "create",
    "run": "run",
    "start": "start",
    "stop": "stop",
    "kill": "kill",
    "rm": "rm",
    "wait": "wait",
    "logs": "logs",
    "inspect": "inspect",
    "exec": "exec_",
    "attach": "attach",
    "restart": "restart",
    "pause": "pause",
    "unpause": "unpause",
    "stats": "stats",
    "top": "top",
    "cp": "cp",
    "rename": "rename",
    "port": "port",
}


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="container_command", required=True, metavar="COMMAND")
    prune = sub.add_parser("prune", help="remove every container that is not running")
    prune.add_argument("-f", "--force", action="store_true", help="do not ask")
    prune.set_defaults(func=_prune)
    for verb, name in ALIASES.items():
        try:
            module = importlib.import_module(f"bastion.cli.front.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bastion.cli.front.commands.{name}":
                raise
            continue  # a verb not built yet
        verb_parser = sub.add_parser(
            verb, help=module.HELP, add_help=getattr(module, "ADD_HELP", True)
        )
        module.configure(verb_parser)
        verb_parser.set_defaults(func=module.run)


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
