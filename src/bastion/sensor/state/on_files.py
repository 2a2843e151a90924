"""Event handlers that create, copy and close fds: open family, memfd, pipes, dup, close.

Each sets `event.fd` to the fd it made (or, for close, the fd it removed: still readable
by the rules evaluating this event).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from bastion.sensor.events.model import Event
from bastion.sensor.state import flags
from bastion.sensor.state.fds import abspath, memfd_fd, pipe_fd
from bastion.sensor.state.model import Fd, FdType, Thread
from bastion.sensor.state.params import as_int as _int
from bastion.sensor.state.params import param as _param
from bastion.sensor.state.tables import Tables

_FILE, _DIRECTORY = FdType.FILE, FdType.DIRECTORY


def _result_fd(event: Event) -> int | None:
    """The fd an fd-returning call gave back (`res`, or its ``fd`` parameter)."""
    res = event.res if event.res is not None else _int(event.params.get("fd"))
    return res if res is not None and res >= 0 else None


def on_open(state: Tables, event: Event, thread: Thread) -> None:
    """open, openat, openat2, creat: a file (or directory) fd with an absolute name."""
    # The flood's most frequent handler, with close: `_result_fd` and `param` are written out
    # here (on a recorded open+close flood, 0.91-0.92x the state's time per event in paired
    # runs), and a dirfd is looked up only for a relative name, the only kind abspath joins
    # to it.
    params = event.params
    num = event.res
    if num is None:
        fd_param = params.get("fd")
        if not isinstance(fd_param, int):
            return
        num = fd_param
    if num < 0:
        return
    name = params.get("name")
    if name is None:
        name = state.enter_param(event, "name")
    if not isinstance(name, str):
        name = ""
    open_flags = params.get("flags")
    if open_flags is None:
        open_flags = state.enter_param(event, "flags")
    if not isinstance(open_flags, int):
        open_flags = 0
    base = None
    if name[:1] != "/":
        dirfd = params.get("dirfd")
        if dirfd is None:
            dirfd = state.enter_param(event, "dirfd")
        if isinstance(dirfd, int) and dirfd != flags.AT_FDCWD:
            dir_fd = thread.fds.get(dirfd)
            base = dir_fd.name if dir_fd is not None else None
    dev = params.get("dev")
    ino = params.get("ino")
    fd = Fd(
        num,
        _DIRECTORY if open_flags & flags.O_DIRECTORY else _FILE,
        abspath(thread.cwd, name, base),
        open_flags,
        dev if isinstance(dev, int) else 0,
        ino if isinstance(ino, int) else 0,
    )  # positional: once per open in a flood
    state.fd_limiter.put(thread.fds, fd)
    event.fd = fd


def on_memfd_create(state: Tables, event: Event, thread: Thread) -> None:
    num = _result_fd(event)
    if num is None:
        return
    name = _param(state, event, "name")
    fd = memfd_fd(num, name if isinstance(name, str) else "", _int(event.params.get("flags")) or 0)
    state.fd_limiter.put(thread.fds, fd)
    event.fd = fd


def on_pipe(state: Tables, event: Event, thread: Thread) -> None:
    """pipe/pipe2: two fds on one pipe inode; `event.fd` is the write end, the last one
    added (libsinsp's add_fd makes each new fd the event's, so the second wins)."""
    if event.res != 0:
        return
    ino = _int(event.params.get("ino")) or 0
    pipe_flags = _int(event.params.get("flags")) or 0
    made: list[Fd] = []
    for name in ("fd1", "fd2"):
        num = _int(event.params.get(name))
        if num is not None and num >= 0:
            fd = pipe_fd(num, ino, pipe_flags)
            state.fd_limiter.put(thread.fds, fd)
            made.append(fd)
    event.fd = made[-1] if made else None


def on_dup(state: Tables, event: Event, thread: Thread) -> None:
    """dup/dup2/dup3 (and fcntl F_DUPFD when a source reports it as dup): the new number
    names a copy of the old fd; dup2/dup3 onto an open number closes that one first."""
    new = event.res
    if new is None or new < 0:
        return
    old = _int(_param(state, event, "oldfd"))
    if old is None:
        old = _int(_param(state, event, "fd"))
    source = thread.fds.get(old) if old is not None else None
    if source is None:
        thread.fds.pop(new, None)  # whatever the number held is closed; what it is now, unknown
        return
    copy = dataclasses.replace(source, num=new)
    if event.type == "dup3":
        dup_flags = _int(event.params.get("flags")) or 0
        copy.flags = (source.flags & ~flags.O_CLOEXEC) | (dup_flags & flags.O_CLOEXEC)
    else:  # dup/dup2 never carry close-on-exec to the new fd (dup(2))
        copy.flags = source.flags & ~flags.O_CLOEXEC
    if old != new:
        state.fd_limiter.put(thread.fds, copy)
    event.fd = thread.fds.get(new, copy)


def on_close(state: Tables, event: Event, thread: Thread) -> None:
    num = event.params.get("fd")
    if num is None:
        num = state.enter_param(event, "fd")  # `param`, written out (the flood's other half)
    if not isinstance(num, int):
        return
    fds = thread.fds
    fd = fds.get(num)
    event.fd = fd
    if fd is not None and (event.res is None or event.res >= 0):
        del fds[num]


def anon_fd_handler(kind: str) -> Callable[[Tables, Event, Thread], None]:
    """A handler for calls whose result is a new fd of a fixed kind with no name (eventfd,
    signalfd, timerfd_create, inotify_init, epoll_create, userfaultfd, io_uring_setup, bpf)."""

    def on_anon(state: Tables, event: Event, thread: Thread) -> None:
        num = _result_fd(event)
        if num is None:
            return
        fd = Fd(num=num, type=kind)
        state.fd_limiter.put(thread.fds, fd)
        event.fd = fd

    return on_anon


# bpf(2) commands whose result is a new fd (the others return 0 or a count).
_BPF_FD_CMDS = frozenset({0, 5, 7, 13, 14, 17, 18, 19, 28, 30})


def on_bpf(state: Tables, event: Event, thread: Thread) -> None:
    cmd = _int(_param(state, event, "cmd"))
    num = _result_fd(event)
    if num is None or cmd not in _BPF_FD_CMDS:
        return
    fd = Fd(num=num, type=FdType.BPF)
    state.fd_limiter.put(thread.fds, fd)
    event.fd = fd
