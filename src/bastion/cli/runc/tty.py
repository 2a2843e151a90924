"""A foreground `run`/`exec` with a terminal: bastion-runc holds the pty master and copies bytes
between it and its own stdio, as runc's tty.go does. Our stdin goes raw while we proxy, window
size changes follow with SIGWINCH, and the proxy ends when the container side closes (EIO)."""

from __future__ import annotations

import _signal
import os
import select

from bastion._sys import pty

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType
    from typing import Any


class TerminalProxy:
    __slots__ = ("master", "saved")

    def __init__(self, master: int) -> None:
        self.master = master
        self.saved: list[Any] | None = None

    def start(self) -> None:
        if os.isatty(0):
            import termios
            import tty

            self.saved = termios.tcgetattr(0)
            tty.setraw(0)
            _signal.signal(_signal.SIGWINCH, self._resize)  # first: no change is lost
            self._resize(0, None)

    def _resize(self, _sig: int, _frame: FrameType | None) -> None:
        try:
            rows, cols = pty.window_size(0)
            pty.set_window_size(self.master, rows, cols)
        except OSError:
            pass

    def copy_until_closed(self) -> None:
        """Copy stdin -> master and master -> stdout until the container side closes."""
        import gc

        gc.enable()  # the launcher turned it off for start-up; a session may last for days
        sources = [self.master, 0]
        while True:
            try:
                ready, _, _ = select.select(sources, [], [])
            except InterruptedError:
                continue
            if self.master in ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # EIO: every slave descriptor is closed
                    return
                if not data:
                    return
                _write_all(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if not data:
                    sources.remove(0)  # our stdin ended; keep showing the container's output
                else:
                    _write_all(self.master, data)

    def stop(self) -> None:
        if self.saved is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, self.saved)
            self.saved = None
        os.close(self.master)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
