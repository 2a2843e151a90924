"""`bastion pull IMAGE`: an image from its registry into the engine's store."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "pull an image from a registry"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the image's digest")
    parser.add_argument(
        "--tls-verify",
        choices=("true", "false"),
        default=None,
        help="verify the registry's TLS certificate (default: yes, except for loopback)",
    )
    parser.add_argument("image")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine
    from bastion.cli.front.progress import transfer_progress

    tls = None if args.tls_verify is None else args.tls_verify == "true"
    with open_engine(args) as engine, transfer_progress(args.quiet) as report:
        record = engine.pull(args.image, tls_verify=tls, progress=report)
    if args.quiet:
        sys.stdout.write(f"{record.digest}\n")
    else:
        sys.stdout.write(f"Digest: {record.digest}\nPulled: {record.name}\n")
    return 0
