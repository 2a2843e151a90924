"""A container's health check as Docker configures it (`Config.Healthcheck`): the `run`/`create`
flags' check, the image's `HEALTHCHECK`, and how the two merge.

A check is Docker's document: `Test` (`["NONE"]`, `["CMD", argv...]`, `["CMD-SHELL", text]`, or
empty to take the image's), `Interval`, `Timeout`, `StartPeriod` (nanoseconds, 0 = the image's or
the default) and `Retries` (0 = the image's or 3). Light on purpose: the CLI imports it only when
a `--health-*` flag is given, the engine only when an image or the options carry a check.
"""

from __future__ import annotations

from bastion.engine.errors import InvalidOptionError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SECOND_NS = 1_000_000_000
#: Docker's defaults (daemon/health.go) for a field left 0
DEFAULT_INTERVAL_NS = 30 * SECOND_NS
DEFAULT_TIMEOUT_NS = 30 * SECOND_NS
DEFAULT_RETRIES = 3
#: the daemon's floor for a non-zero Interval, Timeout or StartPeriod
MINIMUM_NS = 1_000_000

_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": SECOND_NS,
    "m": 60 * SECOND_NS,
    "h": 3600 * SECOND_NS,
}


def duration_ns(text: str) -> int:
    """A Go duration (`30s`, `1m30s`, `1.5s`, `500ms`, `0`) in nanoseconds (Go's
    time.ParseDuration, which Docker's flags and HEALTHCHECK use); ValueError if it is none."""
    rest = text.strip()
    sign = -1 if rest.startswith("-") else 1
    rest = rest.lstrip("+-")
    if rest == "0":
        return 0
    if not rest:
        raise ValueError(f"invalid duration {text!r}")
    total = 0.0
    while rest:
        cut = 0
        while cut < len(rest) and (rest[cut].isdigit() or rest[cut] == "."):
            cut += 1
        number, rest = rest[:cut], rest[cut:]
        # the two-letter units first: "ms" is not "m" then "s"
        unit = next((u for u in _UNITS_NS if rest.startswith(u)), "")
        if not number or number.count(".") > 1 or number == "." or not unit:
            raise ValueError(f"invalid duration {text!r}")
        total += float(number) * _UNITS_NS[unit]
        rest = rest[len(unit) :]
    return sign * int(total)


def from_flags(
    *,
    cmd: str | None,
    interval: str | None,
    timeout: str | None,
    start_period: str | None,
    retries: int | None,
    disabled: bool,
) -> dict[str, Any] | None:
    """The check `--health-cmd/-interval/-timeout/-start-period/-retries` and
    `--no-healthcheck` ask for, as Docker's CLI builds it (None: no flag given, the image's
    check applies)."""
    given = {"interval": interval, "timeout": timeout, "start-period": start_period}
    durations: dict[str, int] = {}
    for flag, text in given.items():
        if text is None:
            continue
        try:
            durations[flag] = duration_ns(text)
        except ValueError:
            raise InvalidOptionError(
                f"invalid --health-{flag} {text!r}", hint="give a duration such as 30s or 1m30s"
            ) from None
        if durations[flag] < 0:
            raise InvalidOptionError(f"--health-{flag} cannot be negative")
    if retries is not None and retries < 0:
        raise InvalidOptionError("--health-retries cannot be negative")
    configured = bool(cmd) or any(durations.values()) or bool(retries)
    if disabled:
        if configured:
            raise InvalidOptionError("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not configured:
        return None
    return {
        "Test": ["CMD-SHELL", cmd] if cmd else [],
        "Interval": durations.get("interval", 0),
        "Timeout": durations.get("timeout", 0),
        "StartPeriod": durations.get("start-period", 0),
        "Retries": retries or 0,
    }


def merge(user: dict[str, Any] | None, image: dict[str, Any] | None) -> dict[str, Any] | None:
    """The container's check: the user's over the image's, field by field as the daemon merges
    them (daemon/commit.go: an empty Test or a 0 takes the image's value); checked as the daemon
    checks it."""
    if user is None:
        merged = dict(image) if image else None
    else:
        merged = dict(user)
        for key in ("Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"):
            if not merged.get(key) and image and image.get(key):
                merged[key] = image[key]
    if merged is not None:
        validate(merged)
    return merged


def validate(check: dict[str, Any]) -> None:
    """Docker's checks of a Healthcheck (daemon/container.go), with its messages."""
    test = check.get("Test") or []
    if not isinstance(test, list) or not all(isinstance(word, str) for word in test):
        raise InvalidOptionError("Healthcheck Test must be a list of strings")
    if test and test[0] not in ("NONE", "CMD", "CMD-SHELL"):
        raise InvalidOptionError(
            f"unknown health check type {test[0]!r}", hint="Test starts with NONE, CMD or CMD-SHELL"
        )
    if test and test[0] != "NONE" and len(test) < 2:
        raise InvalidOptionError(f"the health check {test[0]} has no command")
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        value = check.get(key) or 0
        if not isinstance(value, int) or value < 0 or 0 < value < MINIMUM_NS:
            raise InvalidOptionError(f"{key} in Healthcheck cannot be less than 1ms")
    retries = check.get("Retries") or 0
    if not isinstance(retries, int) or retries < 0:
        raise InvalidOptionError("Retries in Healthcheck cannot be negative")


def active(check: dict[str, Any] | None) -> bool:
    """Whether `check` runs anything (not absent, empty or NONE)."""
    test = (check or {}).get("Test") or []
    return bool(test) and test[0] != "NONE"


def status_suffix(status: str | None) -> str:
    """Docker's words for a health status after a running container's "Up ..." (moby
    container/health.go): " (healthy)", " (unhealthy)", " (health: starting)"; "" without one."""
    if status is None:
        return ""
    return " (health: starting)" if status == "starting" else f" ({status})"
