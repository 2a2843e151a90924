"""inotify(7): a descriptor that becomes readable when a watched file changes, so a reader can
wait on it (with `select`, beside a pidfd) instead of waking on a timer."""

from __future__ import annotations

import os

from bastion._sys.libc import check, cstr, libc

IN_MODIFY = 0x00000002
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC


def open_watch(path: str, mask: int) -> int:
    """A non-blocking, close-on-exec inotify descriptor watching `path` for `mask`."""
    fd = check(libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC), "inotify_init1")
    try:
        check(libc.inotify_add_watch(fd, cstr(path), mask), "inotify_add_watch", path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def drain(fd: int) -> None:
    """Read and drop the queued events (the caller only needed the wake-up)."""
    while True:
        try:
            if not os.read(fd, 65536):
                return
        except BlockingIOError:
            return
