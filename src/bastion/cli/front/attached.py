"""What `run -i/-t`, `start -a` and `attach` share: the local terminal in raw mode while the
container has a terminal (so Ctrl-C, Ctrl-Z and the rest reach the container's pty as bytes and
its line discipline turns them into signals there), window size changes (SIGWINCH) passed on,
and the copy between our stdio and the container (`bastion.engine.attach.stream`)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from bastion.engine import Attachment


def stream(attachment: Attachment, *, stdin: bool, tty: bool) -> bool:
    """Copy until the container ends (False) or the user types Ctrl-P Ctrl-Q (True)."""
    from bastion.engine.attach import DETACH_KEYS
    from bastion.engine.attach import stream as copy

    sys.stdout.flush()
    with contextlib.ExitStack() as stack:
        if tty:
            stack.enter_context(_follow_window_size(attachment))
            if stdin:
                stack.enter_context(_raw(0))
        return copy(
            attachment,
            stdin=0 if stdin else None,
            stdout=1,
            stderr=2,
            # only on a terminal, as Docker: piped bytes are data, whatever they are
            detach_keys=DETACH_KEYS if stdin and tty else None,
        )


@contextlib.contextmanager
def _raw(fd: int) -> Iterator[None]:
    if not os.isatty(fd):
        yield
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def _follow_window_size(attachment: Attachment) -> Iterator[None]:
    terminal = next((fd for fd in (0, 1, 2) if os.isatty(fd)), None)
    if terminal is None:
        yield
        return
    from bastion._sys.pty import window_size

    def resize(_sig: int = 0, _frame: object = None) -> None:
        with contextlib.suppress(OSError):
            attachment.resize(*window_size(terminal))

    # listening before the first resize: a change in between is not lost (the docker CLI,
    # which resizes first, misses a SIGWINCH that comes before it listens)
    previous = signal.signal(signal.SIGWINCH, resize)
    resize()
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)


def proxy_signals(send: Callable[[int], None]) -> None:
    """Docker's --sig-proxy (on by default, without a terminal): what we get, the container
    gets."""

    def forward(sig: int, frame: object) -> None:
        with contextlib.suppress(Exception):  # it may have ended meanwhile
            send(sig)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1):
        signal.signal(sig, forward)
