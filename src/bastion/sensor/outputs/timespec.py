"""`--since` values: a duration ago (``90s``, ``10m``, ``2h``, ``1d12h``) or an ISO-8601 time."""

from __future__ import annotations

import datetime
import re

from bastion.errors import BastionError, ExitCode

_UNIT_NS = {
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
    "d": 86400 * 1_000_000_000,
    "w": 7 * 86400 * 1_000_000_000,
}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_DURATION = re.compile(r"(?:\d+(?:ms|s|m|h|d|w))+")


class TimeSpecError(BastionError):
    """Raised for a `--since` value that is neither a duration nor an ISO-8601 time."""

    reference = "bad-time"
    exit_code = ExitCode.INVALID_INPUT


def parse_duration_ns(text: str) -> int | None:
    """``1h30m`` as ns, or None when `text` is not a duration (units ms, s, m, h, d, w)."""
    if not _DURATION.fullmatch(text):
        return None
    return sum(int(n) * _UNIT_NS[unit] for n, unit in _PART.findall(text))


def parse_since(text: str, *, now_ns: int, where: str = "--since") -> int:
    """The time `text` names, in ns since the epoch: `now_ns` minus a duration, or an ISO-8601
    date/time (one without a zone is local time, as `date` would read it)."""
    value = text.strip()
    duration = parse_duration_ns(value)
    if duration is not None:
        return now_ns - duration
    try:
        stamp = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise TimeSpecError(
            f"{text!r} is neither a duration nor an ISO-8601 time",
            where=where,
            hint="use a duration such as 90s, 10m, 2h or 1d12h, "
            "or a time such as 2026-11-22T17:45:00Z",
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.astimezone()  # naive: local time
    delta = stamp - datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
