"""`bastion volume create|ls|rm|inspect|prune`: the engine's volumes (engine/volumes.py), as
Docker's `volume` verbs."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "manage volumes"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="create a volume (a new anonymous one without NAME)")
    create.add_argument("name", nargs="?")
    create.add_argument("-l", "--label", action="append", default=[], help="KEY=VALUE")
    listing = sub.add_parser("ls", help="list volumes")
    listing.add_argument("-q", "--quiet", action="store_true", help="only the names")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    remove = sub.add_parser("rm", help="remove volumes (refused while a container uses one)")
    remove.add_argument("-f", "--force", action="store_true", help="no error for a missing one")
    remove.add_argument("names", nargs="+", metavar="VOLUME")
    inspect = sub.add_parser("inspect", help="show volumes' details as JSON")
    inspect.add_argument("names", nargs="+", metavar="VOLUME")
    prune = sub.add_parser("prune", help="remove unused anonymous volumes (-a: all unused)")
    prune.add_argument("-a", "--all", action="store_true", help="named volumes too")
    prune.add_argument("-f", "--force", action="store_true", help="do not ask (never asks)")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import human_size, open_engine
    from bastion.engine import NoSuchVolumeError
    from bastion.engine.volumes import document

    out = sys.stdout
    with open_engine(args) as engine:
        if args.action == "create":
            labels = dict(label.partition("=")[::2] for label in args.label)
            out.write(f"{engine.create_volume(args.name, labels=labels).name}\n")
        elif args.action == "ls":
            volumes = engine.volume_list()
            if args.quiet:
                out.writelines(f"{v.name}\n" for v in volumes)
            elif args.format == "json":
                out.writelines(json.dumps(document(v)) + "\n" for v in volumes)
            else:
                out.write(f"{'DRIVER':<10}VOLUME NAME\n")
                out.writelines(f"{'local':<10}{v.name}\n" for v in volumes)
        elif args.action == "rm":
            for name in args.names:
                try:
                    engine.remove_volume(name)
                except NoSuchVolumeError:
                    if not args.force:
                        raise
                    continue
                out.write(f"{name}\n")
        elif args.action == "inspect":
            docs = [document(engine.volume(name)) for name in args.names]
            out.write(json.dumps(docs, indent=4) + "\n")
        else:
            removed = engine.prune_volumes(all=args.all)
            out.write("Deleted Volumes:\n" if removed else "")
            out.writelines(f"{name}\n" for name in removed)
            out.write(f"\nTotal reclaimed space: {human_size(sum(removed.values()))}\n")
    return 0
