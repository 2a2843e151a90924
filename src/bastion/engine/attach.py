"""Attaching to a running container through its monitor (conmon), as Podman does.

conmon listens on `<container dir>/attach` (a SOCK_SEQPACKET socket: `--full-attach` puts it
in the bundle). Every packet it sends is one byte naming the stream (2: stdout, 3: stderr; a
container with a terminal has only stdout) and the bytes the container wrote; every packet a
client sends is written to the container's stdin (its pty with `-t`, a pipe with `-i`). When the
client shuts down its sending side, conmon closes the container's stdin (unless started with
`--leave-stdin-open`). conmon closes every client once the container has ended and its output is
drained, so end of file on the socket means the container is gone.

Window size changes go through the control fifo `<container dir>/ctl`: one line
`1 <rows> <cols>` per change (conmon's WIN_RESIZE_EVENT), which conmon applies to the pty.

`stream` copies between the caller's descriptors and the socket until then, or until the user
types the detach keys (Docker's Ctrl-P Ctrl-Q).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import socket
import sys
import termios
import time

from bastion.engine.errors import ContainerStateError

#: conmon's stream numbers on the attach socket (conmon's STDIN_PIPE, STDOUT_PIPE, STDERR_PIPE).
STDOUT, STDERR = 2, 3
#: conmon's control message that resizes the container's pty.
RESIZE_EVENT = 1
#: Docker's default detach sequence: Ctrl-P Ctrl-Q.
DETACH_KEYS = b"\x10\x11"
#: conmon reads at most CONN_SOCK_BUF_SIZE (32 KiB) per packet: a longer one would be cut.
_SEND_CHUNK = 16384
#: conmon sends at most STDIO_BUF_SIZE (8 KiB) + its stream byte per packet.
_RECEIVE_SIZE = 65536


class Attachment:
    """A connection to one container's monitor: its output, its stdin, its terminal size."""

    def __init__(self, sock: socket.socket, directory: str) -> None:
        self.sock = sock
        self.directory = directory

    @classmethod
    def connect(cls, directory: str) -> Attachment:
        """Connect to the monitor of the container whose directory is `directory`."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        try:
            # through /proc/self/fd: the path may be longer than a socket address allows
            fd = os.open(directory, os.O_PATH | os.O_CLOEXEC)
            try:
                sock.connect(f"/proc/self/fd/{fd}/attach")
            finally:
                os.close(fd)
        except OSError as exc:
            sock.close()
            raise ContainerStateError(
                f"cannot attach to the container's monitor: {exc.strerror}",
                hint="is the container running?",
            ) from None
        return cls(sock, directory)

    def fileno(self) -> int:
        return self.sock.fileno()

    def receive(self) -> tuple[int, bytes] | None:
        """The next (stream, bytes) the container wrote, or None once the monitor closed the
        connection (the container has ended)."""
        while True:
            try:
                packet = self.sock.recv(_RECEIVE_SIZE)
            except InterruptedError:
                continue
            except ConnectionResetError:
                return None
            if not packet:
                return None
            if len(packet) > 1:
                return packet[0], packet[1:]

    def send(self, data: bytes) -> None:
        """Write `data` to the container's stdin (blocking)."""
        for start in range(0, len(data), _SEND_CHUNK):
            self.sock.sendall(data[start : start + _SEND_CHUNK])

    def close_stdin(self) -> None:
        """End of file on the container's stdin (conmon closes it when it was started with
        `--stdin` and without `--leave-stdin-open`)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def resize(self, rows: int, cols: int) -> None:
        """Set the size of the container's terminal."""
        resize(self.directory, rows, cols)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Attachment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def resize(directory: str, rows: int, cols: int) -> None:
    """Ask the monitor of the container in `directory` to resize its terminal (a no-op for a
    container without one, or whose monitor is gone)."""
    try:
        # non-blocking: ENXIO instead of hanging when no monitor holds the fifo open
        fd = os.open(os.path.join(directory, "ctl"), os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.write(fd, f"{RESIZE_EVENT} {rows} {cols}\n".encode())
        # conmon acts on the first message of each read of its fifo: one written before it has
        # read this one would be lost (the docker CLI sends two at once on attach, one more
        # row and column, then its own size). So not back before it has taken this one.
        deadline = time.monotonic() + _RESIZE_READ_S
        while _unread(fd) and time.monotonic() < deadline:
            time.sleep(0.001)
    except OSError:
        pass
    finally:
        os.close(fd)


#: How long a resize waits at most for the monitor to read it (a busy or stopped one).
_RESIZE_READ_S = 0.2


def _unread(fd: int) -> int:
    """The bytes written to the fifo `fd` that its reader has not read yet (FIONREAD)."""
    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, bytes(4)), sys.byteorder)


class DetachScanner:
    """Finds the detach sequence in what the user types, as Docker's escape proxy: bytes that
    may begin it are held back until the next bytes show whether they do."""

    def __init__(self, keys: bytes = DETACH_KEYS) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(the bytes to pass on, whether the sequence was typed)."""
        out = bytearray()
        for byte in data:
            candidate = self.held + bytes([byte])
            # not the sequence after all: pass bytes on until what is left may begin it
            while candidate and not self.keys.startswith(candidate):
                out.append(candidate[0])
                candidate = candidate[1:]
            if candidate == self.keys:
                self.held = b""
                return bytes(out), True
            self.held = candidate
        return bytes(out), False


def stream(
    attachment: Attachment,
    *,
    stdin: int | None,
    stdout: int,
    stderr: int,
    detach_keys: bytes | None = DETACH_KEYS,
) -> bool:
    """Copy `stdin` (None: nothing) to the container and its output to `stdout`/`stderr`
    until the container has ended (False) or the user typed `detach_keys` (True). End of file
    on `stdin` closes the container's stdin, and its output goes on being copied."""
    scanner = DetachScanner(detach_keys) if detach_keys else None
    sock = attachment.sock
    sock.setblocking(False)
    pending = bytearray()  # typed, not yet taken by the monitor
    stdin_open = stdin is not None
    # conmon writes to a client in blocking mode: never block on sending while it waits for
    # us to read, or both wait forever
    while True:
        readers: list[int] = [sock.fileno()]
        if stdin_open and not pending:
            assert stdin is not None
            readers.append(stdin)
        writers = [sock.fileno()] if pending else []
        ready, can_write, _ = select.select(readers, writers, [])
        if sock.fileno() in ready:
            try:
                packet = sock.recv(_RECEIVE_SIZE)
            except BlockingIOError:
                packet = None
            except ConnectionResetError:
                return False
            if packet is not None:
                if not packet:
                    return False
                if len(packet) > 1:
                    _write_all(stderr if packet[0] == STDERR else stdout, packet[1:])
        if can_write and pending:
            try:
                sent = sock.send(pending[:_SEND_CHUNK])
            except BlockingIOError:
                sent = 0
            except (BrokenPipeError, ConnectionResetError):
                pending.clear()
                stdin_open = False
                sent = 0
            del pending[:sent]
            if not pending and not stdin_open:
                attachment.close_stdin()
        if stdin is not None and stdin in ready:
            data = _read(stdin)
            if not data:
                stdin_open = False
                if not pending:
                    attachment.close_stdin()
                continue
            if scanner is not None:
                data, detached = scanner.feed(data)
                if detached:
                    return True
            pending += data


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, _SEND_CHUNK)
    except OSError as exc:
        if exc.errno == errno.EIO:  # a terminal whose other side is gone
            return b""
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [])
