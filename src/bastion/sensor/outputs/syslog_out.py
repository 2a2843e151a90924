"""Alerts to syslog over a unix datagram socket (``/dev/log`` by default).

Falco calls ``syslog(3)`` with the alert's priority as the severity: its eight priorities are
syslog's eight severities in the same order (Emergency = LOG_EMERG = 0 ... Debug = LOG_DEBUG = 7)
and the facility is glibc's default, LOG_USER. We speak the wire format ourselves so that the
socket is configurable and the format can be RFC 3164 (what glibc's ``syslog(3)`` sends to
``/dev/log``: ``<PRI>Mmm dd hh:mm:ss ident[pid]: msg``) or RFC 5424
(``<PRI>1 timestamp hostname app-name procid msgid structured-data msg``).
"""

from __future__ import annotations

import datetime
import os
import socket
import time

from bastion.sensor.outputs.alert import Alert, priority_rank
from bastion.sensor.outputs.errors import OutputConfigError
from bastion.sensor.outputs.stats import Counters, OutputStatistics
from bastion.sensor.outputs.text import Render

LOG_USER = 1
FORMATS = ("rfc3164", "rfc5424")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def severity(priority: str) -> int:
    """Syslog severity of a Falco priority (unknown names are treated as Notice, the middle)."""
    rank = priority_rank(priority)
    return 5 if rank is None else rank


def rfc3164(pri: int, now: float, ident: str, pid: int, msg: str) -> str:
    """glibc's local form: no hostname (the local daemon adds it), local time, day space-padded."""
    t = time.localtime(now)
    stamp = f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    return f"<{pri}>{stamp} {ident}[{pid}]: {msg}"


def rfc5424(pri: int, now: float, hostname: str, ident: str, pid: int, msg: str) -> str:
    """RFC 5424 §6 with no MSGID and no structured data; the timestamp is UTC with the six
    fractional digits the RFC allows at most."""
    stamp = datetime.datetime.fromtimestamp(now, tz=datetime.UTC)
    text = stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"<{pri}>1 {text} {_header_word(hostname)} {_header_word(ident)} {pid} - - {msg}"


def _header_word(value: str) -> str:
    # Header fields are PRINTUSASCII without spaces, at most 255 octets; "-" means absent.
    word = "".join(c for c in value if "!" <= c <= "~")[:255]
    return word or "-"


class SyslogOutput:
    """Sends each alert, rendered, as one syslog datagram.

    The socket is connected lazily and again after a failure, so a syslog daemon that restarts
    (and recreates /dev/log) is picked up; while it is down, alerts are counted as failed.
    """

    def __init__(
        self,
        render: Render,
        *,
        address: str = "/dev/log",
        fmt: str = "rfc3164",
        facility: int = LOG_USER,
        ident: str = "bastion",
        hostname: str | None = None,
    ) -> None:
        if fmt not in FORMATS:
            raise OutputConfigError(
                f"unknown syslog format {fmt!r}", hint="use " + " or ".join(FORMATS)
            )
        if not 0 <= facility <= 23:
            raise OutputConfigError(
                f"syslog facility {facility} out of range", hint="use 0..23 (LOG_USER is 1)"
            )
        self.address = address
        self._render = render
        self._fmt = fmt
        self._facility = facility
        self._ident = ident
        self._hostname = hostname or socket.gethostname()
        self._sock: socket.socket | None = None
        self._counters = Counters(f"syslog {address}")

    def message(self, alert: Alert, now: float | None = None) -> bytes:
        """The datagram for `alert` (syslog lines carry no trailing newline)."""
        pri = self._facility * 8 + severity(alert.priority)
        when = time.time() if now is None else now
        body = self._render(alert).rstrip("\n")
        if self._fmt == "rfc3164":
            text = rfc3164(pri, when, self._ident, os.getpid(), body)
        else:
            text = rfc5424(pri, when, self._hostname, self._ident, os.getpid(), body)
        return text.encode("utf-8", "surrogateescape")

    def emit(self, alert: Alert) -> None:
        data = self.message(alert)
        try:
            if self._sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                try:
                    sock.connect(self.address)
                except OSError:
                    sock.close()
                    raise
                self._sock = sock
            self._sock.send(data)
        except OSError as exc:
            self._counters.fail(exc)
            self._disconnect()
            return
        self._counters.ok()

    def close(self) -> None:
        self._disconnect()

    def statistics(self) -> OutputStatistics:
        return self._counters.snapshot()

    def _disconnect(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
