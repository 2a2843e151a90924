"""The console-socket protocol: how a runtime hands a container's pty master to its caller.

runc's protocol, which Podman's conmon and containerd's shim speak: the caller listens on a unix
socket and passes its path as `--console-socket`; the runtime connects and sends one message whose
payload is the pty's name and whose SCM_RIGHTS ancillary data is the master descriptor.
"""

from __future__ import annotations

import _socket
import os
import sys

from bastion.runtime.errors import RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from bastion.runtime.init.channel import Channel


def send_to_socket(path: str, master: int, name: str) -> None:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        try:
            sock.connect(path)
        except OSError as exc:
            raise RuntimeFailure(
                f"cannot connect to the console socket {path}: {exc.strerror}",
                where="--console-socket",
                reference="console-socket-unreachable",
            ) from None
        rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, master.to_bytes(4, sys.byteorder))]
        sock.sendmsg([name.encode()], rights)
    finally:
        sock.close()


def receive_from_socket(sock: _socket.socket) -> tuple[str, int]:
    """The other side (a caller, our own `run`, tests): accept one pty master."""
    data, ancillary, _flags, _addr = sock.recvmsg(4096, _socket.CMSG_SPACE(4))
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            return data.decode(errors="replace"), int.from_bytes(payload[:4], sys.byteorder)
    raise RuntimeFailure("the console socket message carried no descriptor")


def deliver(
    chan: Channel, socket_path: str | None, receiver: Callable[[int, str], None] | None
) -> None:
    """Take the pty master the container side sent on `chan` and pass it on: to the caller's
    console socket, or to `receiver` (a foreground run/exec that proxies it)."""
    from bastion.runtime.init.messages import Console, Message

    msg, master = chan.recv_fd_record(Message.CONSOLE, Console)
    name = msg.name
    try:
        if socket_path:
            send_to_socket(socket_path, master, name)
        elif receiver is not None:
            receiver(os.dup(master), name)
    finally:
        os.close(master)
