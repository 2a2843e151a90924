"""`bastion system service`: the Docker Engine API on a unix socket (bastion.api), as
`podman system service`; `system.py` adds it to the `system` verb's sub-commands."""

from __future__ import annotations

import argparse
import sys

DEFAULT_SOCKET = "unix:///run/bastion/docker.sock"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    service = sub.add_parser(
        "service", help="serve the Docker Engine API (docker, docker-py, testcontainers)"
    )
    service.add_argument(
        "address",
        nargs="?",
        default=DEFAULT_SOCKET,
        help=f"unix:///PATH or tcp://127.0.0.1:PORT (default {DEFAULT_SOCKET}; under systemd's "
        "socket activation, the socket it passes)",
    )
    service.add_argument(
        "-t", "--time", type=float, default=0, help="exit after N idle seconds (0: never)"
    )
    service.add_argument("--group", help="the socket's group (default root's)")
    service.set_defaults(func=run_service)


def run_service(args: argparse.Namespace) -> int:
    import asyncio

    from bastion.api.server import EngineFactory, serve

    address = args.address
    if address.startswith("tcp://") and not address.startswith("tcp://127.0.0.1:"):
        sys.stderr.write(
            "bastion: the API runs containers as root: listen on a unix socket, or on "
            "tcp://127.0.0.1:PORT at most\n"
        )
        return 125
    factory = EngineFactory(args.engine_root, args.root, args.cgroup_parent)

    def ready(where: str) -> None:
        sys.stderr.write(f"bastion: serving the Docker API on {where}\n")
        sys.stderr.flush()

    asyncio.run(serve(address, factory, group=args.group, idle_timeout=args.time, ready=ready))
    return 0
