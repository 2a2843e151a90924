"""Falco's text alert line, and the output that writes rendered alerts to a stream.

Falco prefixes every rule output with ``%evt.time: <Priority>`` (falco `formats.cpp`):
``evt.time`` is the time of day in local time with nanoseconds (``17:45:01.123456789``);
with ``time_format_iso_8601`` it is ``evt.time.iso8601``, which libsinsp renders as UTC with
the offset strftime's ``%z`` gives for UTC: ``2026-11-22T17:45:01.123456789+0000``.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from typing import TextIO

from bastion.sensor.outputs.alert import Alert
from bastion.sensor.outputs.stats import Counters, OutputStatistics

Render = Callable[[Alert], str]
"""Turns an alert into one line of text (no trailing newline)."""


def falco_time(time_ns: int, *, iso: bool = False) -> str:
    """`time_ns` as Falco's ``%evt.time`` (local time of day) or ``%evt.time.iso8601``."""
    secs, ns = divmod(time_ns, 1_000_000_000)
    if iso:
        stamp = datetime.datetime.fromtimestamp(secs, tz=datetime.UTC)
        return stamp.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}+0000"
    # libsinsp applies the zone offset of "now" to every event; we use the offset in force at
    # the event's own time, which only differs for alerts replayed across a DST change.
    local = time.localtime(secs)
    return f"{local.tm_hour:02d}:{local.tm_min:02d}:{local.tm_sec:02d}.{ns:09d}"


def text_line(alert: Alert, *, iso: bool = False) -> str:
    """Falco's full output line: ``<time>: <Priority> <rule output>``, and bastion's
    ``(action: ...)`` after it when the sensor acted."""
    line = f"{falco_time(alert.time_ns, iso=iso)}: {alert.priority} {alert.output}"
    return f"{line} (action: {alert.action})" if alert.action else line


class TextFormat:
    """A `Render` for Falco's text line (`iso` is Falco's ``time_format_iso_8601``)."""

    def __init__(self, *, iso: bool = False) -> None:
        self.iso = iso

    def __call__(self, alert: Alert) -> str:
        return text_line(alert, iso=self.iso)


class StreamOutput:
    """Writes each alert, rendered, as one line to a text stream (stdout by default).

    Flushes after each line unless `buffered`: an alert sitting in a buffer is an alert nobody
    sees (Falco's ``buffered_outputs`` defaults to false for the same reason). The stream is
    not closed by `close`: it belongs to the caller.
    """

    def __init__(
        self, stream: TextIO, render: Render, *, buffered: bool = False, name: str = "stdout"
    ) -> None:
        self._stream = stream
        self._render = render
        self._buffered = buffered
        self._counters = Counters(name)

    def emit(self, alert: Alert) -> None:
        line = self._render(alert)
        try:
            self._stream.write(line + "\n")
            if not self._buffered:
                self._stream.flush()
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed
            self._counters.fail(exc)
            return
        self._counters.ok()

    def close(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError):
            pass

    def statistics(self) -> OutputStatistics:
        return self._counters.snapshot()
