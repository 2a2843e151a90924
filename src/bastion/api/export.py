"""`GET /containers/{id}/export`: the container's filesystem as a tar stream (`docker export`,
docker-py's `container.export()`), over `Engine.export` (engine/container_export.py).

The engine writes the tar into a pipe from a worker thread while the handler copies the pipe
to the client as it comes (chunked: the size is not known before the end), so a large root
is never spooled. A client that leaves mid-stream closes the pipe: the engine's write fails,
and it unmounts what it mounted and releases the container's lock as on any error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import TYPE_CHECKING

from aiohttp import web

from bastion.api.server import add, in_engine

if TYPE_CHECKING:
    from bastion.engine import Engine


def register(app: web.Application) -> None:
    add(app, "GET", "/containers/{id}/export", export)


async def export(request: web.Request) -> web.StreamResponse:
    ident = request.match_info["id"]
    await in_engine(request, lambda e: e.container(ident))  # moby's 404 before the stream
    read_end, write_end = os.pipe()
    source = open(read_end, "rb", buffering=0)  # noqa: SIM115 (closed below, after the task)
    sink = open(write_end, "wb")  # noqa: SIM115 (closed by the worker when it is done)

    def produce(engine: Engine) -> None:
        with sink:
            engine.export(ident, sink)

    task = asyncio.ensure_future(in_engine(request, produce))
    chunk = await asyncio.to_thread(source.read, 1 << 16)
    if not chunk:  # it failed before its first byte: its error, with moby's status
        source.close()
        await task
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/x-tar"})
    response.enable_chunked_encoding()
    try:
        await response.prepare(request)
        while chunk:
            await response.write(chunk)
            chunk = await asyncio.to_thread(source.read, 1 << 16)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        source.close()  # a worker still writing gets EPIPE and stops
        with contextlib.suppress(Exception):
            await task
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response
