"""`bastion top CONTAINER [ps OPTIONS]`: the container's processes, as the host's `ps` shows
them (default `-ef`), keeping only the rows of the pids in its cgroup (as `docker top`)."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "show a container's processes"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("container")
    parser.add_argument("ps_options", nargs="...", metavar="PS OPTIONS")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine
    from bastion.engine import EngineError

    with open_engine(args) as engine:
        pids = set(engine.top(args.container))
    options = args.ps_options or ["-ef"]
    result = subprocess.run(["ps", *options], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise EngineError(f"ps {' '.join(options)} failed: {result.stderr.strip()}")
    lines = result.stdout.splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    if "PID" not in header:
        raise EngineError("ps's output has no PID column", hint="keep -o pid (or -ef)")
    column = header.index("PID")
    sys.stdout.write(lines[0] + "\n")
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in pids:
            sys.stdout.write(line + "\n")
    return 0
