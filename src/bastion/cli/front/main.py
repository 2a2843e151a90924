"""bastion entry point: `bastion info` now; the engine's verbs (pull, run, ps...) join it later."""

from __future__ import annotations

import argparse
import os
import platform
import sys

from bastion import __version__
from bastion.errors import BastionError


def _info(args: argparse.Namespace) -> int:
    from bastion.runtime.cgroups.detect import detect

    facts = {
        "version": __version__,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "cgroup layout": detect(),
        "runtime root": args.root,
        "containers": str(len([n for n in _listdir(args.root) if not n.startswith(".")])),
    }
    width = max(len(k) for k in facts)
    for key, value in facts.items():
        sys.stdout.write(f"{key:<{width}}  {value}\n")
    return 0


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bastion", description="containers, isolated and watched")
    parser.add_argument("--version", action="version", version=f"bastion {__version__}")
    parser.add_argument("--root", default="/run/bastion", help="runtime state directory")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="show what bastion sees on this host").set_defaults(func=_info)
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except BastionError as exc:
        sys.stderr.write(f"bastion: {exc.render()}\n")
        return exc.exit_code
    return result
