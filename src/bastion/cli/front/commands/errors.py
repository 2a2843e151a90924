"""`bastion errors [CODE...]`: what an error's reference code means and how to fix it."""

from __future__ import annotations

import argparse
import sys

HELP = "explain error reference codes (the CODE of error[CODE]); all of them without a code"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("codes", nargs="*", metavar="CODE", help="a reference code, e.g. usage")


def run(args: argparse.Namespace) -> int:
    from bastion.error_catalogue import CATALOGUE
    from bastion.errors import BastionError

    codes = args.codes or sorted(CATALOGUE)
    for code in codes:
        entry = CATALOGUE.get(code)
        if entry is None:
            raise BastionError(
                f"no error has the reference code {code!r}",
                hint="`bastion errors` lists every code",
                reference="usage",
            )
        area, meaning, fix = entry
        sys.stdout.write(f"{code} ({area})\n  {meaning}\n  fix: {fix}\n")
    return 0
