"""The userland proxy of one published TCP port on the host's IPv6 loopback, [::1]:PORT.

Started by `bastion.network.proxy` as `python -m bastion.network.proxy` (a detached process,
`bastion.network.daemon`). It accepts on [::1]:PORT and, for each connection, opens one of its
own to the container's address and copies bytes both ways, passing each direction's end
(a half-close) on to the other side; as Docker's docker-proxy does where NAT cannot reach.
asyncio is imported here only, never on the engine's run path.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket

CONNECT_TIMEOUT = 5.0
_CHUNK = 256 * 1024
_BACKLOG = 128


def listen(port: int) -> socket.socket:
    """A TCP socket listening on [::1]:`port`, IPv6 only (127.0.0.1 is the DNAT's)."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("::1", port))
        sock.listen(_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Bytes from `reader` to `writer` until the end, which is passed on as a half-close."""
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:  # a reset on either side ends this direction; closing ends the other
        writer.close()


async def _relay(
    target: tuple[str, int], client: asyncio.StreamReader, back: asyncio.StreamWriter
) -> None:
    try:
        upstream, forth = await asyncio.wait_for(asyncio.open_connection(*target), CONNECT_TIMEOUT)
    except (OSError, TimeoutError):  # the container is not listening: the client sees a close
        back.close()
        return
    try:
        await asyncio.gather(_copy(client, forth), _copy(upstream, back))
    finally:
        forth.close()
        back.close()


async def _serve(sock: socket.socket, target: tuple[str, int]) -> None:
    server = await asyncio.start_server(lambda r, w: _relay(target, r, w), sock=sock, limit=_CHUNK)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    """`python -m bastion.network.proxy`: bind, detach, say "ok PID" on --ready-fd, serve."""
    from bastion.network import daemon

    parser = argparse.ArgumentParser(prog="python -m bastion.network.proxy")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target", required=True, help="the container's IPv4 address:port")
    parser.add_argument("--pid-file", required=True)
    parser.add_argument("--ready-fd", type=int, required=True)
    args = parser.parse_args(argv)
    ready = os.fdopen(args.ready_fd, "w")
    host, _, port = args.target.rpartition(":")
    try:
        sock = listen(args.port)
    except OSError as e:
        daemon.refuse(ready, f"cannot listen on [::1] port {args.port}: {e.strerror}")
    settings = {"port": args.port, "target": args.target}
    daemon.detach(
        ready, args.pid_file, settings, lambda: asyncio.run(_serve(sock, (host, int(port))))
    )
