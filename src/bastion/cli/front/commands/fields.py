"""`bastion fields`: every field rules and outputs can use, with its type and meaning."""

from __future__ import annotations

import argparse
import sys

HELP = "list the fields rules and outputs can use"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="show only fields whose name contains this text")
    parser.add_argument(
        "--class", dest="field_class", help="show one class only (evt, proc, thread, fd, user...)"
    )
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    from bastion import jsonio
    from bastion.sensor.fields import ALL_FIELDS

    chosen = [
        f
        for f in ALL_FIELDS
        if (args.field_class is None or f.field_class == args.field_class)
        and (args.name is None or args.name in f.name)
    ]
    if args.output == "json":
        rows = [
            {"name": f.name, "type": f.type, "arg": f.arg, "list": f.is_list, "doc": f.doc}
            for f in chosen
        ]
        sys.stdout.write(jsonio.dumps(rows) + "\n")
        return 0 if chosen else 1
    if not chosen:
        sys.stderr.write("bastion: no field matches\n")
        return 1
    width = max(len(_shown(f.name, f.arg, f.dotted)) for f in chosen)
    for f in chosen:
        sys.stdout.write(f"{_shown(f.name, f.arg, f.dotted):<{width}}  {f.type:<8}  {f.doc}\n")
    return 0


def _shown(name: str, arg: str, dotted: bool) -> str:
    if arg == "none":
        return name
    if dotted:
        return f"{name}.X"
    return f"{name}[X]" if arg == "required" else f"{name}[X]?"
