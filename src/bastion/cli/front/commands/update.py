"""`bastion update [--memory ..] [--memory-swap ..] [--cpus ..] [--cpu-shares ..] [--cpu-quota ..]
[--cpu-period ..] [--cpuset-cpus ..] [--pids-limit ..] [--restart ..] CONTAINER...`: change
containers' limits (at once for a running one) and restart policy, as `docker update`
(engine/container_update.py). Prints each container's name, as docker does."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from bastion.engine.container_update import ResourceUpdate

HELP = "change containers' resource limits and restart policy"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--memory", help="memory limit (b, k, m, g)")
    parser.add_argument("--memory-swap", help="memory plus swap (-1: unlimited swap)")
    parser.add_argument("--cpus", help="number of CPUs (a CFS quota; 0: no limit)")
    parser.add_argument("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)")
    parser.add_argument("--cpu-quota", type=int, help="CFS quota in µs per period (-1: none)")
    parser.add_argument("--cpu-period", type=int, help="CFS period in µs")
    parser.add_argument("--cpuset-cpus", help="CPUs allowed (0-2,4)")
    parser.add_argument("--pids-limit", type=int, help="process limit (-1: unlimited)")
    parser.add_argument("--restart", help="restart policy: no, on-failure[:N], always, ...")
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")


def change_of(args: argparse.Namespace) -> ResourceUpdate:
    from bastion.engine import InvalidOptionError
    from bastion.engine.container_update import ResourceUpdate
    from bastion.engine.host_config import nano_cpus
    from bastion.runtime.update_flags import ram_in_bytes

    sizes: dict[str, int | None] = {}
    for flag in ("memory", "memory_swap"):
        text = getattr(args, flag)
        try:
            sizes[flag] = None if text is None else -1 if text == "-1" else ram_in_bytes(text, flag)
        except Exception as exc:
            option = "--" + flag.replace("_", "-")
            raise InvalidOptionError(f"invalid {option} {text!r}: {exc}") from None
    cpus = None
    if args.cpus is not None:
        try:
            cpus = nano_cpus(float(args.cpus))
        except ValueError:
            raise InvalidOptionError(f"invalid --cpus {args.cpus!r}: not a number") from None
    return ResourceUpdate(
        memory=sizes["memory"],
        memory_swap=sizes["memory_swap"],
        nano_cpus=cpus,
        cpu_shares=args.cpu_shares,
        cpu_quota=args.cpu_quota,
        cpu_period=args.cpu_period,
        cpuset_cpus=args.cpuset_cpus,
        pids_limit=args.pids_limit,
        restart=args.restart,
    )


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine
    from bastion.engine import InvalidOptionError
    from bastion.engine.container_update import ResourceUpdate

    change = change_of(args)
    if change == ResourceUpdate():
        raise InvalidOptionError(
            "you must provide one or more flags when using this command",
            hint="e.g. --memory 256m, --cpus 1.5, --pids-limit 100, --restart always",
        )
    with open_engine(args) as engine:
        for name in args.containers:
            for warning in engine.update(name, change):
                sys.stderr.write(f"WARNING: {warning}\n")
            sys.stdout.write(f"{name}\n")
    return 0
