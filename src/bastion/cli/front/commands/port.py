"""`bastion port CONTAINER [PRIVATE_PORT[/PROTO]]`: the container's published ports, as
`docker port` prints them (`80/tcp -> 0.0.0.0:8080`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = "list a container's published ports"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("container")
    parser.add_argument("port", nargs="?", help="only this container port (PORT[/PROTO])")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine
    from bastion.engine import EngineError

    with open_engine(args) as engine:
        ports = engine.ports(args.container)
    if args.port:
        number, _, protocol = args.port.partition("/")
        ports = [
            p
            for p in ports
            if str(p.container_port) == number and p.protocol == (protocol or "tcp")
        ]
        if not ports:
            raise EngineError(f"no public port {args.port!r} published for {args.container}")
        for p in ports:
            host = f"[{p.host_ip}]" if ":" in p.host_ip else p.host_ip
            sys.stdout.write(f"{host}:{p.host_port}\n")
        return 0
    for p in ports:
        sys.stdout.write(f"{p}\n")
    return 0
