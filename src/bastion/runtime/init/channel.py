"""The parent <-> child sync channel: a SOCK_SEQPACKET socketpair carrying small JSON messages.

Each message is one datagram `{"type": ..., <payload fields>}`, so no framing is needed (youki's
process/message.rs has the same shape); messages.py lists them all. A child that fails sends
ERROR with its error's class and fields; `recv*` here raise that error again in the parent, as
the same `BastionError` subclass with the same reference, fields and exit code. EOF means the
other side died.
"""

from __future__ import annotations

import _socket
import sys

from bastion import jsonio
from bastion._record import fields
from bastion.errors import BastionError
from bastion.runtime.errors import InitFailed
from bastion.runtime.init.messages import ErrorReport, Message

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    from bastion.runtime.init.messages import Payload

    _P = TypeVar("_P")

_MAX = 65536
#: BastionError's own attributes, sent as ErrorReport's named fields.
_BASE_FIELDS = frozenset({"message", "where", "hint", "reference"})
_SCALARS = (str, int, float, bool, type(None))


class Channel:
    __slots__ = ("explain", "peer", "sock")

    def __init__(self, sock: _socket.socket, peer: str) -> None:
        self.sock = sock
        self.peer = peer
        #: How to word a compiled init's PLAN_ERROR (its plan's `explain`); None elsewhere.
        self.explain: Callable[[dict[str, object]], BastionError] | None = None

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, kind: str, payload: Payload | None = None) -> None:
        """Send message `kind` (a `Message` constant) with its payload record, if it has one."""
        self.sock.send(_encode(kind, payload))

    def send_fd(self, kind: str, fd: int, payload: Payload | None = None) -> None:
        """A message carrying one descriptor (SCM_RIGHTS), e.g. a pty master for the parent."""
        rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))]
        self.sock.sendmsg([_encode(kind, payload)], rights)

    def send_error(self, exc: BaseException) -> None:
        try:
            self.send(Message.ERROR, error_report(exc))
        except OSError:
            pass  # the parent is gone; nothing left to tell

    def recv(self, expect: str) -> None:
        """Wait for message `expect`, which carries nothing; a child's error is raised."""
        self._check(self.sock.recv(_MAX), expect)

    def recv_record(self, expect: str, payload: type[_P]) -> _P:
        """Wait for message `expect` and return its payload, a `payload` record."""
        return _payload(self._check(self.sock.recv(_MAX), expect), payload, self.peer)

    def recv_fd(self, expect: str) -> int:
        """Wait for message `expect`, which carries a descriptor and nothing else; the fd."""
        return self._recv_fd(expect)[1]

    def recv_fd_record(self, expect: str, payload: type[_P]) -> tuple[_P, int]:
        """Wait for message `expect`, which carries a descriptor; (its payload, the fd)."""
        msg, fd = self._recv_fd(expect)
        return _payload(msg, payload, self.peer), fd

    def _recv_fd(self, expect: str) -> tuple[dict[str, object], int]:
        data, ancillary, _flags, _addr = self.sock.recvmsg(_MAX, _socket.CMSG_SPACE(4))
        fds = [
            int.from_bytes(payload[:4], sys.byteorder)
            for level, kind, payload in ancillary
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS
        ]
        msg = self._check(data, expect)
        if not fds:
            raise InitFailed(f"the {self.peer} sent {expect!r} without a descriptor")
        return msg, fds[0]

    def recv_eof(self) -> None:
        """Wait for the child to close its end (e.g. by exec'ing, the channel being close-on-exec);
        a message instead is its error, raised here."""
        data = self.sock.recv(_MAX)
        if data:
            self._check(data, "end of the channel")
            raise InitFailed(f"the {self.peer} sent a message where its exec was expected")

    def _check(self, data: bytes, expect: str) -> dict[str, object]:
        if not data:
            raise InitFailed(f"the {self.peer} exited before sending {expect!r}")
        msg = jsonio.loads(data)
        kind = msg.get("type")
        if kind == Message.ERROR:
            raise rebuild_error(_payload(msg, ErrorReport, self.peer))
        if kind == Message.PLAN_ERROR and self.explain is not None:
            raise self.explain(msg)
        if kind != expect:
            raise InitFailed(f"the {self.peer} sent {kind!r}, expected {expect!r}")
        result: dict[str, object] = msg
        return result

    def close(self) -> None:
        self.sock.close()


def pair() -> tuple[Channel, Channel]:
    """(parent end, child end); both close on exec."""
    a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    return Channel(a, "container init"), Channel(b, "runtime")


def error_report(exc: BaseException) -> ErrorReport:
    """What the parent needs to raise `exc` again (messages.ErrorReport)."""
    if isinstance(exc, BastionError):
        cls = type(exc)
        return ErrorReport(
            error_class=f"{cls.__module__}:{cls.__qualname__}",
            message=exc.message,
            where=exc.where,
            hint=exc.hint,
            reference=exc.reference,
            fields={
                k: v
                for k, v in vars(exc).items()
                if k not in _BASE_FIELDS and isinstance(v, _SCALARS)
            },
        )
    filename = getattr(exc, "filename", None)  # an OSError's path, when it is text
    return ErrorReport(
        error_class="",
        message=str(exc) or type(exc).__name__,
        where=filename if isinstance(filename, str) else None,
        hint=None,
        reference=None,
        fields={},
    )


def rebuild_error(report: ErrorReport) -> BastionError:
    """The child's error, as the same class with the same attributes (exit code, reference...).

    The class is found by its module and name among bastion's modules; it is built without its
    own `__init__` (subclasses such as `InvalidState` take other arguments) and given the
    attributes the child's error had. Anything else becomes `InitFailed`.
    """
    cls = _error_class(report.error_class)
    if cls is None:
        return InitFailed(
            report.message or "container set-up failed",
            where=report.where,
            hint=report.hint,
            reference=report.reference or InitFailed.reference,
        )
    exc = cls.__new__(cls)
    BastionError.__init__(
        exc, report.message, where=report.where, hint=report.hint, reference=report.reference
    )
    for name, value in report.fields.items():
        setattr(exc, name, value)
    return exc


def _error_class(name: str) -> type[BastionError] | None:
    module_name, _, qualname = name.partition(":")
    if not module_name.startswith("bastion.") or not qualname:
        return None
    module = sys.modules.get(module_name)
    if module is None:
        try:
            module = __import__(module_name, fromlist=["_"])
        except ImportError:
            return None
    found: object = module
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if isinstance(found, type) and issubclass(found, BastionError):
        return found
    return None


def _encode(kind: str, payload: Payload | None) -> bytes:
    msg = {name: getattr(payload, name) for name in fields(payload)} if payload is not None else {}
    msg["type"] = kind
    return jsonio.dumps(msg).encode()


def _payload(msg: dict[str, object], cls: type[_P], peer: str) -> _P:
    try:
        values = {name: msg[name] for name in fields(cls)}
    except KeyError as exc:
        raise InitFailed(f"the {peer} sent {msg.get('type')!r} without {exc.args[0]!r}") from None
    return cls(**values)
