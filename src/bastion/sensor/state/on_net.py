"""Event handlers for sockets: socket, socketpair, bind, listen, connect, accept.

A socket fd starts with its family and layer-4 protocol (from socket()'s arguments) and gains
its name as it is bound, connected or accepted (`fds.set_bound`, `fds.set_tuple`).
"""

from __future__ import annotations

from bastion.sensor.events.model import Event, SockAddr, SockTuple
from bastion.sensor.state.fds import set_bound, set_tuple, socket_fd
from bastion.sensor.state.model import Fd, FdType, Thread

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.sensor.state.sensor_state import SensorState


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _param(state: SensorState, event: Event, name: str) -> object:
    value = event.params.get(name)
    return state.enter_param(event, name) if value is None else value


def on_socket(state: SensorState, event: Event, thread: Thread) -> None:
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


def on_socketpair(state: SensorState, event: Event, thread: Thread) -> None:
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


def _socket(state: SensorState, event: Event, thread: Thread) -> Fd | None:
    num = _int(_param(state, event, "fd"))
    return thread.fds.get(num) if num is not None else None


def on_bind(state: SensorState, event: Event, thread: Thread) -> None:
    fd = _socket(state, event, thread)
    event.fd = fd
    addr = _param(state, event, "addr")
    if fd is not None and event.res == 0 and isinstance(addr, SockAddr):
        set_bound(fd, addr)


def on_listen(state: SensorState, event: Event, thread: Thread) -> None:
    fd = _socket(state, event, thread)
    event.fd = fd
    if fd is not None and event.res == 0:
        fd.is_server = True


def on_connect(state: SensorState, event: Event, thread: Thread) -> None:
    """connect: the caller is the client. A non-blocking connect in progress (-EINPROGRESS)
    still names its peer, as Falco records it."""
    fd = _socket(state, event, thread)
    if fd is None:
        num = _int(_param(state, event, "fd"))
        if num is None or num < 0:
            return
        fd = Fd(num=num, type=FdType.UNKNOWN)  # opened before the sensor started
        state.fd_limiter.put(thread.fds, fd)
    event.fd = fd
    res = event.res if event.res is not None else 0
    if res < 0 and res != -115:  # -EINPROGRESS
        return
    tup = event.params.get("tuple")
    if isinstance(tup, SockTuple):
        set_tuple(fd, tup, server=False)


def on_accept(state: SensorState, event: Event, thread: Thread) -> None:
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
