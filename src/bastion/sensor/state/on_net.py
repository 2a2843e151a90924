"""Event handlers for sockets: socket, socketpair, bind, listen, connect, accept.

A socket fd starts with its family and layer-4 protocol (from socket()'s arguments) and gains
its name as it is bound, connected or accepted (`fds.set_bound`, `fds.set_tuple`).
"""

from __future__ import annotations

from bastion.sensor.events.model import Category, Event, SockAddr, SockTuple
from bastion.sensor.state import flags
from bastion.sensor.state.fds import (
    patch_unspecified,
    set_bound,
    set_tuple,
    socket_fd,
    swap_ends,
)
from bastion.sensor.state.model import Fd, FdType, Thread
from bastion.sensor.state.params import as_int as _int
from bastion.sensor.state.params import param as _param
from bastion.sensor.state.tables import Tables


def on_socket(state: Tables, event: Event, thread: Thread) -> None:
    num = event.res if event.res is not None else _int(event.params.get("fd"))
    if num is None or num < 0:
        return
    fd = socket_fd(
        num,
        _int(_param(state, event, "domain")) or 0,
        _int(_param(state, event, "type")) or 0,
        _int(_param(state, event, "proto")) or 0,
    )
    state.fd_limiter.put(thread.fds, fd)
    event.fd = fd


def on_socketpair(state: Tables, event: Event, thread: Thread) -> None:
    if event.res != 0:
        return
    domain = _int(_param(state, event, "domain")) or 0
    sock_type = _int(_param(state, event, "type")) or 0
    made: list[Fd] = []
    for name in ("fd1", "fd2"):
        num = _int(event.params.get(name))
        if num is not None and num >= 0:
            fd = socket_fd(num, domain, sock_type, 0)
            state.fd_limiter.put(thread.fds, fd)
            made.append(fd)
    event.fd = made[0] if made else None


def _socket(state: Tables, event: Event, thread: Thread) -> Fd | None:
    num = _int(_param(state, event, "fd"))
    return thread.fds.get(num) if num is not None else None


def on_bind(state: Tables, event: Event, thread: Thread) -> None:
    fd = _socket(state, event, thread)
    event.fd = fd
    addr = _param(state, event, "addr")
    if fd is not None and event.res is not None and event.res >= 0 and isinstance(addr, SockAddr):
        set_bound(fd, addr)


def on_listen(state: Tables, event: Event, thread: Thread) -> None:
    fd = _socket(state, event, thread)
    event.fd = fd
    if fd is not None and event.res == 0:
        fd.is_server = True


def on_connect(state: Tables, event: Event, thread: Thread) -> None:
    """connect: the caller is the client. A non-blocking connect in progress (-EINPROGRESS)
    still names its peer, as Falco records it. An fd the state does not know is left alone
    (libsinsp's parse_connect_exit: ``fd.name`` then falls back to the event's tuple)."""
    fd = _socket(state, event, thread)
    if fd is None:
        return
    event.fd = fd
    res = event.res if event.res is not None else 0
    if res < 0 and res != -115:  # -EINPROGRESS
        return
    tup = event.params.get("tuple")
    if isinstance(tup, SockTuple):
        set_tuple(fd, tup, server=fd.is_server)


def on_accept(state: Tables, event: Event, thread: Thread) -> None:
    """accept/accept4: a new fd, the server side of the connection the tuple names."""
    num = event.res if event.res is not None else _int(event.params.get("fd"))
    if num is None or num < 0:
        return
    fd = Fd(num=num, type=FdType.UNKNOWN)
    tup = event.params.get("tuple")
    if isinstance(tup, SockTuple):
        set_tuple(fd, tup, server=True)
    state.fd_limiter.put(thread.fds, fd)
    event.fd = fd


def on_datagram(state: Tables, event: Event, thread: Thread) -> None:
    """send*/recv*: a datagram socket learns its ends from the call's tuple. A send is an
    ``IO_write`` event, a receive an ``IO_read`` one (their rows' category).

    libsinsp (parse_write_exit / parse_read_exit) refreshes the fd from the tuple when the fd
    has no name yet or is not TCP (a UDP socket may talk to a new peer on every call). A
    send on an fd the state never saw created is taken as a UDP socket, as libsinsp guesses.
    """
    res = event.res
    if res is None or res < 0:
        return
    tup = _param(state, event, "tuple")
    if not isinstance(tup, SockTuple) or tup.family not in ("inet", "inet6", "unix"):
        return
    num = state.event_fd(event)
    if num is None or num < 0:
        return
    fd = thread.fds.get(num)
    if fd is None:
        if event.category != Category.IO_WRITE or tup.family == "unix":
            return
        fd = socket_fd(num, flags.AF_INET if tup.family == "inet" else flags.AF_INET6, 2, 17)
        state.fd_limiter.put(thread.fds, fd)
    event.fd = fd
    if fd.name and fd.l4proto == "tcp":
        return
    if tup.family != "unix":
        # the driver's tuple is local -> remote on a send, remote -> local on a receive
        if event.category == Category.IO_READ:
            tup = swap_ends(tup)
        if fd.is_server:
            tup = swap_ends(tup)
        tup = patch_unspecified(tup)
        if not fd.l4proto:
            fd.l4proto = "udp"  # TCP cannot change its peer mid-connection
    set_tuple(fd, tup, server=fd.is_server)
