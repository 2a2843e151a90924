"""`bastion system df|prune|info|service|events`: the engine as a whole."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "manage the engine (df, prune, info, events, service: the Docker API)"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="system_command", required=True, metavar="COMMAND")
    df = sub.add_parser("df", help="show the disk space images and containers use")
    df.add_argument("--format", choices=("table", "json"), default="table")
    df.set_defaults(func=_df)
    prune = sub.add_parser(
        "prune", help="repair what a killed bastion left, remove stopped containers and more"
    )
    prune.add_argument("-a", "--all", action="store_true", help="also every unused image")
    prune.add_argument("--volumes", action="store_true", help="also unused volumes")
    prune.add_argument("-f", "--force", action="store_true", help="do not ask")
    prune.set_defaults(func=_prune)
    info = sub.add_parser("info", help="show what the engine sees on this host")
    info.add_argument("--format", choices=("text", "json"), default="text")
    info.set_defaults(func=_info)
    from bastion.cli.front.commands import system_events
    from bastion.cli.front.commands.system_service import add_parser

    add_parser(sub)  # `system service`: the Docker API (bastion.api)
    system_events.add_parser(sub)  # `system events`: the engine's event log


def run(args: argparse.Namespace) -> int:  # the sub-verb's `func` replaces this
    raise AssertionError(args)


def _df(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import human_size, open_engine

    with open_engine(args) as engine:
        rows = engine.system_df()
    if args.format == "json":
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        return 0
    table = [("TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE")]
    for row in rows:
        share = row["Reclaimable"] * 100 // row["Size"] if row["Size"] else 0
        table.append(
            (
                row["Type"],
                str(row["TotalCount"]),
                str(row["Active"]),
                human_size(row["Size"]),
                f"{human_size(row['Reclaimable'])} ({share}%)",
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(5)]
    for r in table:
        sys.stdout.write(
            "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n"
        )
    return 0


def _prune(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import confirm, human_size, open_engine
    from bastion.engine.system import PruneOptions

    if not args.force:
        what = ["all stopped containers", "what a killed bastion left behind"]
        what.append("all images without a container" if args.all else "all dangling images")
        if args.volumes:
            what.append("all volumes not used by at least one container")
        warning = "WARNING! This will remove:\n" + "".join(f"  - {w}\n" for w in what)
        if not confirm(warning + "\nAre you sure you want to continue? [y/N] "):
            return 0
    with open_engine(args) as engine:
        results = engine.system_prune(PruneOptions(all=args.all, volumes=args.volumes))
    total = 0
    for name, pruned in results.items():
        total += pruned.reclaimed
        if pruned.removed:
            sys.stdout.write(f"Deleted {name.capitalize()}:\n")
            sys.stdout.write("".join(f"{item}\n" for item in pruned.removed) + "\n")
    sys.stdout.write(f"Total reclaimed space: {human_size(total)}\n")
    return 0


def _info(args: argparse.Namespace) -> int:
    from bastion.cli.front.commands.info import run as info

    return info(args)
