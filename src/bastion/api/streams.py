"""The Docker API's stream protocols.

- stdcopy framing (moby pkg/stdcopy), for a container without a TTY: each chunk is an 8-byte
  header (stream 0 stdin, 1 stdout, 2 stderr; three zero bytes; big-endian uint32 length), then
  the bytes. With a TTY the stream is raw.
- Chunked JSON progress (pull, push, load): one JSON object per line, flushed as it comes;
  a failure mid-stream is `{"errorDetail": {"message": ...}, "error": ...}`, since the 200 is
  already sent.
- The hijacked stream of attach and exec start: `101 UPGRADED` with
  `Content-Type: application/vnd.docker.raw-stream`, `Connection: Upgrade`, `Upgrade: tcp`,
  flushed before anything else (docker-py loses bytes that share a recv with the headers), then
  raw bytes both ways. aiohttp gives the connection up after the headers: `hijack` pauses its
  reading and hands a duplicate of the socket to a protocol of ours, which sees the client's
  half-close (shutdown of its write side: the container's stdin ends) and keeps writing output
  until the process has ended.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
import struct
import sys
import termios
from typing import Any

from aiohttp import web

from bastion import jsonio

STDIN, STDOUT, STDERR = 0, 1, 2
_HEADER = struct.Struct(">BxxxI")


def frame(stream: int, data: bytes) -> bytes:
    """One stdcopy frame."""
    return _HEADER.pack(stream, len(data)) + data


class Progress:
    """A chunked JSON progress stream (`application/json`, one object per line)."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.response = web.StreamResponse(status=200)
        self.response.content_type = "application/json"
        self.response.enable_chunked_encoding()

    async def start(self) -> None:
        await self.response.prepare(self.request)

    async def send(self, doc: dict[str, Any]) -> None:
        await self.response.write(jsonio.dumps(doc).encode() + b"\r\n")

    async def error(self, message: str) -> None:
        await self.send({"errorDetail": {"message": message}, "error": message})

    async def finish(self) -> web.StreamResponse:
        await self.response.write_eof()
        return self.response


class _RawProtocol(asyncio.Protocol):
    """Our end of a hijacked connection: client bytes into a queue, EOF kept half-open."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.incoming.put_nowait(data)

    def eof_received(self) -> bool:
        self.incoming.put_nowait(None)  # the client shut its write side: stdin ends
        return True  # keep our write side open for the output still to come

    def connection_lost(self, exc: Exception | None) -> None:
        self.incoming.put_nowait(None)
        self.closed.set()


class Hijacked:
    """A connection taken over after `101 UPGRADED`: `write` output, `read` the client's
    bytes (None at its half-close), `close` when the process has ended."""

    def __init__(self, protocol: _RawProtocol) -> None:
        self._protocol = protocol

    @property
    def gone(self) -> bool:
        """The client closed the connection."""
        return self._protocol.closed.is_set()

    async def wait_gone(self) -> None:
        """Until the client has closed the connection."""
        await self._protocol.closed.wait()

    def write(self, data: bytes) -> None:
        transport = self._protocol.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    async def drain(self) -> None:
        await asyncio.sleep(0)

    async def headers_read(self, limit: float) -> None:
        """Until the client has read all that was sent so far (the upgrade's headers), at most
        `limit` seconds: docker-py reads the headers through a buffered reader and what comes
        next from the raw socket, so bytes that arrive with the headers are lost. On a unix
        socket the kernel counts the bytes its peer has not read yet (SIOCOUTQ); on TCP it
        counts the unacknowledged ones, which says nothing of the client's reads: there the
        whole `limit` is waited."""
        transport = self._protocol.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is None or sock.family != socket.AF_UNIX:
            await asyncio.sleep(limit)
            return
        deadline = asyncio.get_running_loop().time() + limit
        while asyncio.get_running_loop().time() < deadline:
            try:
                unread = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, bytes(4))  # = SIOCOUTQ
            except OSError:
                return  # the connection is gone: nothing will be lost
            if int.from_bytes(unread, sys.byteorder) == 0:
                return
            await asyncio.sleep(0.001)

    async def read(self) -> bytes | None:
        return await self._protocol.incoming.get()

    def close(self) -> None:
        transport = self._protocol.transport
        if transport is not None:
            transport.close()


async def hijack(request: web.Request, *, tty: bool) -> tuple[web.StreamResponse, Hijacked]:
    """Answer `101 UPGRADED` (or 200 to a client that did not ask to upgrade, as moby) and take
    the connection over. The caller returns the response once it has closed the stream."""
    del tty  # API 1.41 names both the raw and the framed stream raw-stream (1.42 splits them)
    upgrade = request.headers.get("Upgrade", "").lower() == "tcp"
    response = web.StreamResponse(
        status=101 if upgrade else 200, reason="UPGRADED" if upgrade else "OK"
    )
    response.headers["Content-Type"] = "application/vnd.docker.raw-stream"
    if upgrade:
        response.headers["Connection"] = "Upgrade"
        response.headers["Upgrade"] = "tcp"
    response.force_close()
    # the raw stream has no length and no chunking: aiohttp's own WebSocketResponse does this
    response._length_check = False
    await response.prepare(request)  # the headers go out now, before any output
    transport = request.transport
    assert transport is not None
    transport.pause_reading()  # from here on the bytes are ours
    sock: socket.socket = transport.get_extra_info("socket")
    duplicate = socket.socket(fileno=os.dup(sock.fileno()))
    loop = asyncio.get_running_loop()
    protocol = _RawProtocol()
    await loop.connect_accepted_socket(lambda: protocol, sock=duplicate)
    return response, Hijacked(protocol)
