"""The alert record every output receives, and the `Output` protocol they implement."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Protocol

# Falco's priorities, most severe first (falco_common::priority_type).
PRIORITIES: tuple[str, ...] = (
    "Emergency",
    "Alert",
    "Critical",
    "Error",
    "Warning",
    "Notice",
    "Informational",
    "Debug",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One rule match, rendered.

    `output` is the rule's output with every ``%field`` substituted (``<NA>`` for a value that
    cannot be read); `output_fields` maps each substituted field to its value (None for
    ``<NA>``), as Falco's JSON output does. `time_ns` is the event's time, ns since the epoch.
    `action` names the enforcement taken (``kill-process``...), or None.
    """

    time_ns: int
    rule: str
    priority: str
    output: str
    output_fields: dict[str, object] = field(default_factory=dict)
    source: str = "syscall"
    tags: tuple[str, ...] = ()
    hostname: str = ""
    container_id: str = "host"
    container_name: str = "host"
    event_num: int = 0
    action: str | None = None

    @property
    def time_iso(self) -> str:
        """Falco's JSON time: RFC 3339 UTC with nanoseconds (``2026-11-22T17:45:01.123456789Z``)."""
        secs, ns = divmod(self.time_ns, 1_000_000_000)
        stamp = datetime.datetime.fromtimestamp(secs, tz=datetime.UTC)
        return stamp.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}Z"


class Output(Protocol):
    """A destination for alerts. `emit` must not raise for a transient failure of the
    destination (it counts it and says so once); `close` flushes and releases."""

    def emit(self, alert: Alert) -> None: ...

    def close(self) -> None: ...


def priority_rank(name: str) -> int | None:
    """The index of `name` in `PRIORITIES` (0 = Emergency, most severe), or None.

    Case-insensitive, and "info" means Informational, as Falco's `parse_priority` accepts (the
    two spellings have been used interchangeably in Falco rules for years).
    """
    low = name.strip().lower()
    if low == "info":
        low = "informational"
    for rank, known in enumerate(PRIORITIES):
        if known.lower() == low:
            return rank
    return None
