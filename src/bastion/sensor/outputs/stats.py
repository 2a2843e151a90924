"""Per-output counters (docs/conventions.md §12: every long-lived component has `statistics()`)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutputStatistics:
    """What one output did: alerts delivered, alerts it failed to deliver (the destination
    refused or was unreachable), and alerts it dropped without trying (a full queue)."""

    name: str
    emitted: int = 0
    failed: int = 0
    dropped: int = 0


class Counters:
    """Thread-safe counters behind `statistics()`, and Falco's "say it once" failure log.

    Outputs must not raise on a transient failure (a full disk, a receiver down): they count it,
    and log the first failure and the first success after failures, so a dead syslog socket
    does not turn into one log line per alert.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._emitted = 0
        self._failed = 0
        self._dropped = 0
        self._failing = False

    def ok(self) -> None:
        with self._lock:
            self._emitted += 1
            recovered, self._failing = self._failing, False
        if recovered:
            _log.warning("%s output: delivering alerts again", self.name)

    def fail(self, why: object) -> None:
        with self._lock:
            self._failed += 1
            first, self._failing = not self._failing, True
        if first:
            _log.error("%s output: cannot deliver alerts: %s (counting failures)", self.name, why)

    def drop(self) -> None:
        with self._lock:
            self._dropped += 1
            first = self._dropped == 1
        if first:
            _log.error("%s output: queue full, dropping alerts (counting drops)", self.name)

    def snapshot(self) -> OutputStatistics:
        with self._lock:
            return OutputStatistics(self.name, self._emitted, self._failed, self._dropped)
