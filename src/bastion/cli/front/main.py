"""bastion entry point: a table of verbs, one module each under `commands/`.

The engine's verbs (pull, run, ps...) join the table later; the sensor's verbs (capture,
events, watch, rules, fields, alerts) are here. A `BastionError` is rendered once, here.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from bastion import __version__
from bastion.errors import BastionError
from bastion.identity import DEFAULT_STATE_ROOT

# verb -> module under bastion.cli.front.commands (a verb whose module is absent is skipped,
# so the table can name verbs being built)
COMMANDS: dict[str, str] = {
    "info": "info",
    "capture": "capture",
    "events": "events",
    "watch": "watch",
    "rules": "rules",
    "fields": "fields",
    "alerts": "alerts",
    "errors": "errors",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bastion", description="containers, isolated and watched")
    parser.add_argument("--version", action="version", version=f"bastion {__version__}")
    parser.add_argument("--root", default=DEFAULT_STATE_ROOT, help="runtime state directory")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for verb, name in COMMANDS.items():
        try:
            module = importlib.import_module(f"bastion.cli.front.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bastion.cli.front.commands.{name}":
                raise
            continue
        verb_parser = sub.add_parser(verb, help=module.HELP, description=module.HELP)
        module.configure(verb_parser)
        verb_parser.set_defaults(func=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except BastionError as exc:
        sys.stderr.write(f"bastion: {exc.render()}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return result
