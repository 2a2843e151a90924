"""The end-of-run report of `bastion capture`, `events` and `watch`, on stderr so stdout stays
pure events (the counters themselves are `bastion.sensor.live.statistics`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bastion.sensor.live import Statistics


def write_statistics(report: Statistics) -> None:
    """One aligned "label  value" line per counter, then a warning if events were lost."""
    width = max((len(c.label) for c in report.counters), default=0)
    out = "".join(f"  {c.label:<{width}}  {c.value}\n" for c in report.counters)
    sys.stderr.write(f"statistics:\n{out}")
    if report.lost:
        sys.stderr.write(
            f"warning: {report.lost} events were lost (ring buffer full); "
            "capture fewer events (--events) or fewer containers\n"
        )
