"""A real terminal for CLI tests: the program runs with a fresh pty as its stdin, stdout,
stderr and controlling terminal (its own session), and the test reads and types on the master
side, resizes it (the kernel sends SIGWINCH to the program) and waits for its status."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time


class Terminal:
    def __init__(self, argv: list[str], *, rows: int = 24, cols: int = 80) -> None:
        self.master, slave = os.openpty()
        self.resize(rows, cols)
        self.output = b""
        self.seen = 0  # `expect` looks past what earlier calls matched
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                start_new_session=True,
                # the pty becomes the session's controlling terminal: SIGWINCH and the rest
                preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
            )
        finally:
            os.close(slave)

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the program and everything it started closed the terminal
            return False
        self.output += data
        return bool(data)

    def expect(self, pattern: bytes, timeout: float = 20) -> re.Match[bytes]:
        """The first match of `pattern` in what was written after the last match."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            match = regex.search(self.output, self.seen)
            if match is not None:
                self.seen = match.end()
                return match
            left = deadline - time.monotonic()
            if left <= 0 or (not self._read(min(left, 0.5)) and not self._alive()):
                raise AssertionError(f"{pattern!r} not seen in {self.output[self.seen :]!r}")

    def try_expect(self, pattern: bytes, timeout: float) -> re.Match[bytes] | None:
        try:
            return self.expect(pattern, timeout)
        except AssertionError:
            return None

    def _alive(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while self._alive() and time.monotonic() < deadline:
            self._read(0.1)  # keep the pty drained so the program never blocks on writing
        return self.proc.wait(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        if self._alive():
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
