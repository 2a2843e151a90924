"""`bastion save [-o FILE] [--format docker-archive|oci-archive] IMAGE...`: images into one
tar that `bastion load`, `podman load`, `docker load` and `skopeo` read; to standard output
without -o (never to a terminal)."""

from __future__ import annotations

import os
import shutil
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "save images to a docker-archive or oci-archive tar"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", help="the file to write (default: standard output)")
    parser.add_argument(
        "--format",
        choices=("docker-archive", "oci-archive"),
        default="docker-archive",
        help="the archive's format (default: docker-archive)",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE")


def run(args: argparse.Namespace) -> int:
    import tempfile

    from bastion.cli.front.engine_args import open_engine, refuse_archive_to_terminal

    refuse_archive_to_terminal(args.output)
    with open_engine(args) as engine:
        if args.output:
            engine.save(args.images, args.output, args.format)
            return 0
        scratch = tempfile.mkdtemp(dir=engine.root, prefix="tmp-save-")
        try:
            path = os.path.join(scratch, "archive.tar")
            engine.save(args.images, path, args.format)
            sys.stdout.flush()
            with open(path, "rb") as archive:
                shutil.copyfileobj(archive, sys.stdout.buffer, 1 << 20)
            sys.stdout.buffer.flush()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0
