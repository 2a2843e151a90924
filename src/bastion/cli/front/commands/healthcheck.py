"""`bastion healthcheck run CONTAINER`: run the container's health check once and record it
(Podman's verb; engine/health.py). Exit status 0 when the check passed, 1 when it failed."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "run a container's health check"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run_parser = sub.add_parser("run", help="run the check once now and record its result")
    run_parser.add_argument("container")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine

    with open_engine(args) as engine:
        status, exit_code = engine.healthcheck_run(args.container)
    if exit_code != 0:
        sys.stdout.write(f"{status}\n")  # Podman's word for a failed check
        return 1
    return 0
