"""`bastion load [-i FILE]`: the images of a docker-archive or oci-archive tar (from `bastion
save`, `podman save`, `docker save`, `skopeo copy`), from standard input without -i."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "load images from a docker-archive or oci-archive tar"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--input", help="the archive (default: standard input)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine, spooled_stdin

    with open_engine(args) as engine:
        if args.input:
            records = engine.load(args.input)
        else:
            with spooled_stdin(engine.root, "archive") as path:
                records = engine.load(path)
    if not args.quiet:
        for record in records:
            if record.name.startswith("sha256:"):
                sys.stdout.write(f"Loaded image ID: {record.image_id}\n")
            else:
                sys.stdout.write(f"Loaded image: {record.name}\n")
    return 0
