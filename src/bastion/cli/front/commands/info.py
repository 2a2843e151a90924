"""`bastion info`: what bastion sees on this host."""

from __future__ import annotations

import argparse
import os
import platform
import sys

HELP = "show what bastion sees on this host"


def configure(parser: argparse.ArgumentParser) -> None:
    del parser  # no options of its own


def run(args: argparse.Namespace) -> int:
    from bastion import __version__
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
