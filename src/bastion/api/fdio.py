"""Asynchronous reads and writes on a pipe or pty descriptor, and blocking work in a thread of
its own: a stream lasts as long as its process, so it must not hold one of the event loop's
few executor threads (which `in_engine` needs) while it waits."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def read(fd: int, size: int = 65536) -> bytes:
    """The next bytes of a non-blocking `fd`; b"" at its end (EIO too: a pty whose other side
    is gone, which is how a terminal's process ending shows)."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            return os.read(fd, size)
        except BlockingIOError:
            pass
        except OSError as exc:
            if exc.errno == errno.EIO:
                return b""
            raise
        ready = loop.create_future()
        loop.add_reader(fd, ready.set_result, None)
        try:
            await ready
        finally:
            loop.remove_reader(fd)


async def write_all(fd: int, data: bytes) -> None:
    """All of `data` to a non-blocking `fd`."""
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
            continue
        except BlockingIOError:
            pass
        ready = loop.create_future()
        loop.add_writer(fd, ready.set_result, None)
        try:
            await ready
        finally:
            loop.remove_writer(fd)


def in_thread(work: Callable[[], T]) -> asyncio.Future[T]:
    """`work()` in a new daemon thread; its result (or exception) as a future."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, exc: BaseException | None) -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result = work()
        except BaseException as exc:
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=run, name="bastion-api-wait", daemon=True).start()
    return future
