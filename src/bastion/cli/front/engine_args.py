"""What the engine's verbs share: opening the `Engine` from the global options, the
`create`/`run` flags, and Docker's renderings of sizes and ages."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from bastion.engine import ContainerOptions, Engine


def open_engine(args: argparse.Namespace) -> Engine:
    from bastion.cli.front.main import quick_exit
    from bastion.engine import Engine

    engine = Engine(args.engine_root, runtime_root=args.root, cgroup_parent=args.cgroup_parent)
    # the lean launcher ends the process with os._exit: closing the metadata first would only
    # checkpoint SQLite's WAL (fsyncs: 3-16 ms here) for the next writer to find done
    engine.metadata.checkpoint_on_close = not quick_exit()
    return engine


def add_container_options(parser: argparse.ArgumentParser) -> None:
    """`docker create`'s flags that the engine knows, then IMAGE [COMMAND [ARG...]]."""
    parser.add_argument("--help", action="help", help="show this help and exit")
    parser.add_argument("--name", help="the container's name")
    parser.add_argument("-e", "--env", action="append", default=[], help="KEY=VALUE or KEY")
    parser.add_argument("-w", "--workdir", help="working directory inside the container")
    parser.add_argument("-u", "--user", help="name|uid[:group|gid]")
    parser.add_argument("--entrypoint", help="overwrite the image's ENTRYPOINT")
    parser.add_argument("-h", "--hostname", help="the container's host name")
    parser.add_argument("-m", "--memory", help="memory limit (b, k, m, g)")
    parser.add_argument("--pids-limit", type=int, help="process limit (-1: unlimited)")
    parser.add_argument("--network", default="none", choices=("none", "host"))
    parser.add_argument("-l", "--label", action="append", default=[], help="KEY=VALUE")
    parser.add_argument("--rm", action="store_true", help="remove the container when it ends")
    parser.add_argument("image")
    parser.add_argument("command", nargs="...")


def container_options(args: argparse.Namespace) -> ContainerOptions:
    from bastion.engine import ContainerOptions, InvalidOptionError
    from bastion.runtime.update_flags import ram_in_bytes

    memory = None
    if args.memory:
        try:
            memory = ram_in_bytes(args.memory, "memory")
        except Exception as exc:
            raise InvalidOptionError(f"invalid --memory {args.memory!r}: {exc}") from None
    labels = {}
    for label in args.label:
        key, _, value = label.partition("=")
        labels[key] = value
    return ContainerOptions(
        command=tuple(args.command) if args.command else None,
        entrypoint=args.entrypoint,
        env=tuple(args.env),
        workdir=args.workdir,
        user=args.user,
        hostname=args.hostname,
        memory=memory,
        pids_limit=args.pids_limit,
        network=args.network,
        labels=labels,
        name=args.name,
        auto_remove=args.rm,
        detach=bool(getattr(args, "detach", False)),
    )


def human_size(size: float) -> str:
    """Docker's `units.HumanSize`: decimal units, 3 significant digits ("4.87MB")."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000:
            return f"{size:.3g}{unit}"
        size /= 1000
    return f"{size:.3g}PB"


def human_age(stamp: float, now: float | None = None) -> str:
    """Docker's `units.HumanDuration` + " ago"."""
    seconds = max(0.0, (now if now is not None else time.time()) - stamp)
    if seconds < 1:
        return "Less than a second ago"
    if seconds < 2:
        return "1 second ago"
    if seconds < 60:
        return f"{int(seconds)} seconds ago"
    minutes = seconds / 60
    if minutes < 60:
        return "About a minute ago" if int(minutes) == 1 else f"{int(minutes)} minutes ago"
    hours = minutes / 60
    if hours < 48:
        return "About an hour ago" if int(hours) == 1 else f"{int(hours)} hours ago"
    days = hours / 24
    if days < 14:
        return f"{int(days)} days ago"
    if days < 60:
        return f"{int(days / 7)} weeks ago"
    if days < 730:
        return f"{int(days / 30)} months ago"
    return f"{int(days / 365)} years ago"
