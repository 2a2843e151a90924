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


IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE_SELF = 0x00000400
IN_IGNORED = 0x00008000
IN_ISDIR = 0x40000000
IN_ONLYDIR = 0x01000000

_EVENT_HEADER = 16  # struct inotify_event: int wd; u32 mask; u32 cookie; u32 len; name[len]


def open_queue() -> int:
    """A non-blocking, close-on-exec inotify descriptor with no watch yet."""
    return check(libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC), "inotify_init1")


def add_watch(fd: int, path: str, mask: int) -> int:
    """Watch `path` on the inotify descriptor `fd`; the watch descriptor."""
    return check(libc.inotify_add_watch(fd, cstr(path), mask), "inotify_add_watch", path)


def read_events(fd: int) -> list[tuple[int, int, str]]:
    """The queued events as (watch descriptor, mask, name); [] when none is queued."""
    import struct

    out: list[tuple[int, int, str]] = []
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return out
        if not data:
            return out
        offset = 0
        while offset + _EVENT_HEADER <= len(data):
            wd, mask, _cookie, length = struct.unpack_from("iIII", data, offset)
            raw = data[offset + _EVENT_HEADER : offset + _EVENT_HEADER + length]
            out.append((wd, mask, os.fsdecode(raw.split(b"\0", 1)[0])))
            offset += _EVENT_HEADER + length
