"""`bastion import FILE|- [REFERENCE]`: a root filesystem tar (plain, gzip, zstd) as a
one-layer image, untagged without a reference; prints its id. `-c` applies Dockerfile
instructions to its config (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, STOPSIGNAL)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "make an image from a root filesystem tar"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--change",
        action="append",
        default=[],
        help="a Dockerfile instruction for the image's config (CMD, ENTRYPOINT, ENV, ...)",
    )
    parser.add_argument("file", metavar="FILE|-", help="the tar, or - for standard input")
    parser.add_argument("reference", nargs="?", metavar="REFERENCE")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine, spooled_stdin
    from bastion.engine.image_verbs import config_changes

    config = config_changes(args.change)
    with open_engine(args) as engine:
        if args.file == "-":
            with spooled_stdin(engine.root, "rootfs") as path:
                record = engine.import_image(path, args.reference, config=config)
        else:
            record = engine.import_image(args.file, args.reference, config=config)
    sys.stdout.write(f"{record.image_id}\n")
    return 0
