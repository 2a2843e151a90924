"""`bastion image COMMAND`: Docker's `image` group. Each command is the top-level verb's
module (`image ls` is `images`, `image rm` is `rmi`, ...); `image inspect` looks only at
images, and `image prune` is here."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "manage images (ls, rm, tag, pull, push, inspect, history, load, save, import, prune)"

#: command -> (module under bastion.cli.front.commands, or None for this module's own)
SUBCOMMANDS: dict[str, str | None] = {
    "ls": "images",
    "list": "images",
    "rm": "rmi",
    "tag": "tag",
    "pull": "pull",
    "push": "push",
    "history": "history",
    "load": "load",
    "save": "save",
    "import": "import_",
    "inspect": None,
    "prune": None,
}


def configure(parser: argparse.ArgumentParser) -> None:
    from bastion.cli.front.main import add_verb

    sub = parser.add_subparsers(dest="image_command", required=True, metavar="COMMAND")
    for command, name in SUBCOMMANDS.items():
        if name is None:
            own = sub.add_parser(command, help=_OWN_HELP[command])
            _OWN_CONFIGURE[command](own)
            own.set_defaults(image_run=_OWN_RUN[command])
            continue
        verb = add_verb(sub, command, name)
        assert verb is not None, name
        # the group's `run` stays the entry point (it hands over to the verb's)
        verb.set_defaults(func=run, image_run=verb.get_default("func"))


def run(args: argparse.Namespace) -> int:
    result: int = args.image_run(args)
    return result


def _configure_inspect(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", metavar="IMAGE")


def _inspect(args: argparse.Namespace) -> int:
    import json

    from bastion.cli.front.engine_args import open_engine

    with open_engine(args) as engine:
        docs = [engine.inspect_image(name) for name in args.images]
    sys.stdout.write(json.dumps(docs, indent=4) + "\n")
    return 0


def _configure_prune(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-a", "--all", action="store_true", help="every image no container uses, not only untagged"
    )
    parser.add_argument(
        "-f", "--force", action="store_true", help="do not ask (bastion never does)"
    )


def _prune(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import human_size, open_engine

    with open_engine(args) as engine:
        before = engine.images()
        removed = engine.prune_images(all=args.all).removed
        left = {r.image_id for r in engine.images()}
    gone = {r.image_id: r.size for r in before if r.name in removed and r.image_id not in left}
    if removed:
        sys.stdout.write("Deleted Images:\n")
        for name in removed:
            if not name.startswith("sha256:"):
                sys.stdout.write(f"untagged: {name}\n")
        for image_id in gone:
            sys.stdout.write(f"deleted: {image_id}\n")
        sys.stdout.write("\n")
    sys.stdout.write(f"Total reclaimed space: {human_size(sum(gone.values()))}\n")
    return 0


_OWN_HELP = {"inspect": "show images' details as JSON", "prune": "remove unused images"}
_OWN_CONFIGURE = {"inspect": _configure_inspect, "prune": _configure_prune}
_OWN_RUN = {"inspect": _inspect, "prune": _prune}
