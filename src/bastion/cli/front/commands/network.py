"""`bastion network create|ls|inspect|rm|prune|connect|disconnect`: Docker's network verbs,
thin over the engine's network methods (docs/network.md)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from bastion.engine import Engine

HELP = "manage networks"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="network_command", required=True, metavar="SUBCOMMAND")
    create = sub.add_parser("create", help="make a network")
    create.add_argument(
        "--subnet",
        action="append",
        default=[],
        help="a subnet, CIDR, one per family (default: a free /24 of 10.89/16)",
    )
    create.add_argument("--gateway", help="the gateway (default: the subnet's first address)")
    create.add_argument("--internal", action="store_true", help="no way out of the network")
    create.add_argument("--ipv6", action="store_true", help="IPv6 too")
    create.add_argument("-d", "--driver", default="bridge", choices=("bridge",))
    create.add_argument("--label", action="append", default=[], help="KEY=VALUE")
    create.add_argument("name", metavar="NETWORK")
    ls = sub.add_parser("ls", aliases=["list"], help="list networks")
    ls.add_argument("-q", "--quiet", action="store_true", help="ids only")
    inspect = sub.add_parser("inspect", help="networks' details as JSON")
    inspect.add_argument("names", nargs="+", metavar="NETWORK")
    rm = sub.add_parser("rm", aliases=["remove"], help="remove networks")
    rm.add_argument("names", nargs="+", metavar="NETWORK")
    prune = sub.add_parser("prune", help="remove the networks no container is on")
    prune.add_argument("-f", "--force", action="store_true", help="do not ask (never asks)")
    connect = sub.add_parser("connect", help="put a container on a network")
    connect.add_argument("--ip", help="its IPv4 address there")
    connect.add_argument("--alias", action="append", default=[], help="another name there")
    connect.add_argument("name", metavar="NETWORK")
    connect.add_argument("container", metavar="CONTAINER")
    disconnect = sub.add_parser("disconnect", help="take a container off a network")
    disconnect.add_argument("name", metavar="NETWORK")
    disconnect.add_argument("container", metavar="CONTAINER")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine

    with open_engine(args) as engine:
        return _VERBS[args.network_command](engine, args)


def _create(engine: Engine, args: argparse.Namespace) -> int:
    labels = dict(label.partition("=")[::2] for label in args.label)
    network = engine.create_network(
        args.name,
        subnets=tuple(args.subnet),
        gateway=args.gateway,
        internal=args.internal,
        ipv6=args.ipv6,
        labels=labels,
    )
    sys.stdout.write(f"{network.id}\n")
    return 0


def _ls(engine: Engine, args: argparse.Namespace) -> int:
    networks = engine.networks()
    if args.quiet:
        sys.stdout.write("".join(f"{n.id[:12]}\n" for n in networks))
        return 0
    # Docker's columns, then what `docker network ls` would need an inspect for
    rows = [("NETWORK ID", "NAME", "DRIVER", "SCOPE", "SUBNETS", "BRIDGE")]
    rows += [
        (n.id[:12], n.name, n.driver, "local", ",".join(n.subnets), n.bridge) for n in networks
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        sys.stdout.write("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        sys.stdout.write("\n")
    return 0


def _inspect(engine: Engine, args: argparse.Namespace) -> int:
    docs = [engine.inspect_network(name) for name in args.names]
    sys.stdout.write(json.dumps(docs, indent=4) + "\n")
    return 0


def _rm(engine: Engine, args: argparse.Namespace) -> int:
    for name in args.names:
        engine.remove_network(name)
        sys.stdout.write(f"{name}\n")
    return 0


def _prune(engine: Engine, args: argparse.Namespace) -> int:
    removed = engine.prune_networks()
    if removed:
        sys.stdout.write("Deleted Networks:\n" + "".join(f"{n}\n" for n in removed))
    return 0


def _connect(engine: Engine, args: argparse.Namespace) -> int:
    engine.connect_network(args.name, args.container, ip=args.ip, aliases=tuple(args.alias))
    return 0


def _disconnect(engine: Engine, args: argparse.Namespace) -> int:
    engine.disconnect_network(args.name, args.container)
    return 0


_VERBS = {
    "create": _create,
    "ls": _ls,
    "list": _ls,
    "inspect": _inspect,
    "rm": _rm,
    "remove": _rm,
    "prune": _prune,
    "connect": _connect,
    "disconnect": _disconnect,
}
