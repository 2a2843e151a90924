"""`bastion build [-t NAME]... [-f FILE] [--build-arg K=V]... [--no-cache] [--target STAGE]
DIR`: an image from a Dockerfile, with Docker's classic builder's output (engine/builder/)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "build an image from a Dockerfile"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("context", metavar="DIR", help="the build context directory")
    parser.add_argument(
        "-t", "--tag", action="append", default=[], help="name the image (more than once: names)"
    )
    parser.add_argument("-f", "--file", help="the Dockerfile (default: DIR/Dockerfile)")
    parser.add_argument(
        "--build-arg", action="append", default=[], metavar="KEY=VALUE", help="a build arg"
    )
    parser.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--no-cache", action="store_true", help="do not use the build cache")
    parser.add_argument("--target", help="build up to this stage")
    parser.add_argument(
        "--network", choices=("host", "none"), default="host", help="RUN steps' network"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the image id")


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    import os

    from bastion.engine.errors import InvalidOptionError

    out = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not key:
            raise InvalidOptionError(f"{flag} {value!r}: write KEY=VALUE")
        if not sep:  # `--build-arg NAME`: the caller's value, as Docker
            env = os.environ.get(key)
            if env is None:
                continue
            rest = env
        out[key] = rest
    return out


def run(args: argparse.Namespace) -> int:
    import os

    from bastion.cli.front.engine_args import open_engine
    from bastion.engine import BuildOptions

    dockerfile = "Dockerfile"
    if args.file:
        dockerfile = os.path.relpath(os.path.abspath(args.file), os.path.abspath(args.context))
    options = BuildOptions(
        context=args.context,
        dockerfile=dockerfile,
        tags=tuple(args.tag),
        build_args=_pairs(args.build_arg, "--build-arg"),
        labels=_pairs(args.label, "--label"),
        no_cache=args.no_cache,
        target=args.target,
        network=args.network,
    )

    def say(text: str) -> None:
        if not args.quiet:
            sys.stdout.write(text)
            sys.stdout.flush()

    with open_engine(args) as engine:
        result = engine.build(options, say=say)
    if args.quiet:
        sys.stdout.write(result.image_id + "\n")
    return 0
