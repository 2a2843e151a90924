"""bastion-runc events: the container's stats every --interval, and OOM notifications, as JSON.

One JSON document a line, in runc's shapes: `{"type": "stats", "id": ..., "data": {...}}` and
`{"type": "oom", "id": ...}`. `--stats` prints one stats event and exits. The stream ends, with
status 0, when the container stops or on SIGINT (the usual way to end it).
"""

from __future__ import annotations

import sys

from bastion.cli.runc.args import Option, UsageError
from bastion.cli.runc.main import require_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bastion.cli.runc.main import Context

SUMMARY = "display container events such as OOM notifications, cpu, memory and pids statistics"
ARGUMENTS = "ID"
OPTIONS = [
    Option(
        "--interval", "str", "5s", "set the stats collection interval (default: 5s)", "DURATION"
    ),
    Option("--stats", "bool", help="display the container's stats then exit"),
]

_NUMBER = "0123456789."
# Go's time.ParseDuration units, in seconds.
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,
    "\u03bcs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def run(ctx: Context, values: dict[str, Any], positional: list[str]) -> int:
    from bastion.jsonio import dumps
    from bastion.runtime.container import Container
    from bastion.runtime.control import events, stats_event

    container_id = require_id(positional, "events")
    interval = parse_duration(values["interval"], "--interval")
    if interval <= 0:
        raise UsageError("duration interval must be greater than 0", where="--interval")
    container = Container.load(ctx.root, container_id)
    if values["stats"]:
        sys.stdout.write(dumps(stats_event(container)) + "\n")
        return 0
    import gc

    gc.enable()  # the launcher turned it off for start-up; a stream may run for days
    try:
        for event in events(container, interval):
            sys.stdout.write(dumps(event) + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    return 0


def parse_duration(text: str, option: str = "duration") -> float:
    """Go's time.ParseDuration, in seconds: "5s", "1.5h", "300ms", "1m30s", "-2us", "0"."""
    rest = text
    sign = 1.0
    if rest[:1] in ("-", "+"):
        sign = -1.0 if rest[0] == "-" else 1.0
        rest = rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise UsageError(f"invalid duration {text!r}", where=option, hint="e.g. 5s, 500ms, 1m")
    total = 0.0
    while rest:
        i = 0
        while i < len(rest) and rest[i] in _NUMBER:
            i += 1
        number, rest = rest[:i], rest[i:]
        j = 0
        while j < len(rest) and rest[j] not in _NUMBER:
            j += 1
        unit, rest = rest[:j], rest[j:]
        if number in ("", ".") or number.count(".") > 1 or unit not in _UNITS:
            raise UsageError(
                f"invalid duration {text!r}", where=option, hint="e.g. 5s, 500ms, 1m30s"
            )
        total += float(number) * _UNITS[unit]
    return sign * total
