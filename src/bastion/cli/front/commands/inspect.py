"""`bastion inspect CONTAINER...`: Docker's JSON document for each (a JSON array)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "show containers' details as JSON"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine

    with open_engine(args) as engine:
        docs = [engine.inspect(name) for name in args.containers]
    sys.stdout.write(json.dumps(docs, indent=4) + "\n")
    return 0
