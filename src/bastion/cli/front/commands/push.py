"""`bastion push IMAGE [DESTINATION]`: an image of the engine's store to a registry."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "push an image to a registry"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the digest")
    parser.add_argument(
        "--tls-verify",
        choices=("true", "false"),
        default=None,
        help="verify the registry's TLS certificate (default: yes, except for loopback)",
    )
    parser.add_argument("image", help="the local image (name or id)")
    parser.add_argument(
        "destination", nargs="?", help="registry/repository[:tag] (default: the image's name)"
    )


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine
    from bastion.cli.front.progress import PUSH_WORDS, transfer_progress

    tls = None if args.tls_verify is None else args.tls_verify == "true"
    with open_engine(args) as engine, transfer_progress(args.quiet, PUSH_WORDS) as report:
        digest = engine.push(args.image, args.destination, tls_verify=tls, progress=report)
    sys.stdout.write(f"{digest}\n" if args.quiet else f"Digest: {digest}\n")
    return 0
