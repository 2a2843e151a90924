"""`bastion version [--format json]`: Docker's Client/Server halves (bastion has no server:
the engine library is it); the API version fields are left empty for a later REST API."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

HELP = "show the version of bastion's parts"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    from bastion.engine.system import version

    doc = version(None)
    if args.format == "json":
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return 0
    for half in ("Client", "Server"):
        sys.stdout.write(f"{half}: bastion\n")
        part: dict[str, Any] = doc[half]
        for key, value in part.items():
            if key == "Components":
                for component in value:
                    sys.stdout.write(f" {component['Name']}:\n  Version: {component['Version']}\n")
            else:
                sys.stdout.write(f" {key}: {value}\n")
        sys.stdout.write("\n" if half == "Client" else "")
    return 0
