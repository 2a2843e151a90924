"""Alerts appended to a file, one rendered line each (Falco's ``file_output``).

Falco's ``keep_alive: false`` (its default) opens, appends and closes the file for every
alert, so a logrotate that moves the file needs no signal; ``keep_alive: true`` keeps it open
(cheaper) and `reopen` (Falco reopens outputs on SIGHUP) picks up a rotated file.
"""

from __future__ import annotations

import os
from typing import TextIO

from bastion.sensor.outputs.alert import Alert
from bastion.sensor.outputs.stats import Counters, OutputStatistics
from bastion.sensor.outputs.text import Render


class FileOutput:
    """Appends each alert as one line to `path` (created 0600 if missing: alerts name users,
    commands and files, which other local users should not read)."""

    def __init__(
        self, path: str | os.PathLike[str], render: Render, *, keep_alive: bool = False
    ) -> None:
        self.path = os.fspath(path)
        self._render = render
        self._keep_alive = keep_alive
        self._file: TextIO | None = None
        self._counters = Counters(f"file {self.path}")

    def _open(self) -> TextIO:
        if self._file is None:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._file = os.fdopen(fd, "a", encoding="utf-8", errors="surrogateescape")
        return self._file

    def emit(self, alert: Alert) -> None:
        line = self._render(alert) + "\n"
        try:
            out = self._open()
            # One write of the whole line on an O_APPEND fd: concurrent writers (two sensors,
            # a logger) never interleave inside a line.
            out.write(line)
            out.flush()
            if not self._keep_alive:
                self._close_file()
        except OSError as exc:
            self._counters.fail(exc)
            self._drop_file()
            return
        self._counters.ok()

    def reopen(self) -> None:
        """Close the file so the next alert opens `path` afresh (after a log rotation)."""
        self._drop_file()

    def close(self) -> None:
        self._drop_file()

    def statistics(self) -> OutputStatistics:
        return self._counters.snapshot()

    def _close_file(self) -> None:
        out, self._file = self._file, None
        if out is not None:
            out.close()

    def _drop_file(self) -> None:
        # Close without raising: after a failed write (ENOSPC) close can fail the same way, and
        # that alert is already counted.
        try:
            self._close_file()
        except OSError:
            pass
