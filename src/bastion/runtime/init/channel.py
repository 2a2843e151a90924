"""The parent <-> child sync channel: a SOCK_SEQPACKET socketpair carrying small JSON messages.

Each message is one datagram `{"type": ..., ...}`, so no framing is needed (youki's
process/message.rs has the same shape). A child that fails sends `{"type": "error"}` with the
fields of the BastionError it caught; the parent re-raises it. EOF means the other side died.
"""

from __future__ import annotations

import _socket
import sys

from bastion import jsonio
from bastion.runtime.errors import InitFailed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_MAX = 65536


class Channel:
    __slots__ = ("peer", "sock")

    def __init__(self, sock: _socket.socket, peer: str) -> None:
        self.sock = sock
        self.peer = peer

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, kind: str, **fields: Any) -> None:
        fields["type"] = kind
        self.sock.send(jsonio.dumps(fields).encode())

    def send_fd(self, kind: str, fd: int, **fields: Any) -> None:
        """A message carrying one descriptor (SCM_RIGHTS), e.g. a pty master for the parent."""
        fields["type"] = kind
        rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))]
        self.sock.sendmsg([jsonio.dumps(fields).encode()], rights)

    def recv_fd(self, expect: str) -> tuple[dict[str, Any], int]:
        """The next message, which must carry a descriptor; returns (message, fd)."""
        data, ancillary, _flags, _addr = self.sock.recvmsg(_MAX, _socket.CMSG_SPACE(4))
        fds = [
            int.from_bytes(payload[:4], sys.byteorder)
            for level, kind, payload in ancillary
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS
        ]
        msg = self.check(data, expect)
        if not fds:
            raise InitFailed(f"the {self.peer} sent {expect!r} without a descriptor")
        return msg, fds[0]

    def send_error(self, exc: BaseException) -> None:
        try:
            self.send(
                "error",
                message=getattr(exc, "message", None) or str(exc) or type(exc).__name__,
                where=getattr(exc, "where", None),
                hint=getattr(exc, "hint", None),
                reference=getattr(exc, "reference", None),
            )
        except OSError:
            pass  # the parent is gone; nothing left to tell

    def recv(self, expect: str) -> dict[str, Any]:
        """The next message, which must be of type `expect`; an error message is re-raised."""
        return self.check(self.sock.recv(_MAX), expect)

    def check(self, data: bytes, expect: str) -> dict[str, Any]:
        if not data:
            raise InitFailed(f"the {self.peer} exited before sending {expect!r}")
        msg: dict[str, Any] = jsonio.loads(data)
        if msg.get("type") == "error":
            raise InitFailed(
                msg.get("message") or "container set-up failed",
                where=msg.get("where"),
                hint=msg.get("hint"),
                reference=msg.get("reference") or InitFailed.reference,
            )
        if msg.get("type") != expect:
            raise InitFailed(f"the {self.peer} sent {msg.get('type')!r}, expected {expect!r}")
        return msg

    def close(self) -> None:
        self.sock.close()


def pair() -> tuple[Channel, Channel]:
    """(parent end, child end); both close on exec."""
    a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    return Channel(a, "container init"), Channel(b, "runtime")
