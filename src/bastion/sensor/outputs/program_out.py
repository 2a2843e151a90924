"""Falco's ``program_output``: each alert line piped to a shell command.

As Falco does (``outputs_program.cpp``): the command runs under ``sh -c``; with `keep_alive`
one process is started at the first alert and receives every line on its stdin until the
sensor stops, without it a process is started for each alert, given that alert's line and
waited for. A command that cannot be started or a pipe that breaks is counted as a failure
(and said once) without stopping the other outputs; a kept-alive command that died is started
again at the next alert.
"""

from __future__ import annotations

import subprocess

from bastion.sensor.outputs.alert import Alert
from bastion.sensor.outputs.stats import Counters, OutputStatistics
from bastion.sensor.outputs.text import Render

# How long close() waits for a kept-alive command to read its last lines and exit.
CLOSE_TIMEOUT = 5.0


class ProgramOutput:
    """Pipes each rendered alert, one line, to `command` run by ``sh -c``."""

    def __init__(self, command: str, render: Render, *, keep_alive: bool = False) -> None:
        self.command = command
        self._render = render
        self._keep_alive = keep_alive
        self._process: subprocess.Popen[bytes] | None = None
        self._counters = Counters("program")

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["/bin/sh", "-c", self.command], stdin=subprocess.PIPE)

    def emit(self, alert: Alert) -> None:
        data = (self._render(alert) + "\n").encode("utf-8", "surrogateescape")
        try:
            if not self._keep_alive:
                process = self._start()
                process.communicate(data)
            else:
                if self._process is None or self._process.poll() is not None:
                    self._process = self._start()
                assert self._process.stdin is not None
                self._process.stdin.write(data)
                self._process.stdin.flush()
        except OSError as exc:  # the shell cannot start, or the command closed its stdin
            self._stop()
            self._counters.fail(exc)
            return
        self._counters.ok()

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.stdin is not None:
                process.stdin.close()
        except OSError:
            pass
        try:
            process.wait(timeout=CLOSE_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        self._stop()

    def statistics(self) -> OutputStatistics:
        return self._counters.snapshot()
