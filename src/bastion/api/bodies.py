"""Reading a request's JSON body and query numbers, with a 400 that says what was wrong."""

from __future__ import annotations

import datetime
import re
import time
from typing import Any

from aiohttp import web

from bastion import jsonio
from bastion.api.errors import ApiError


async def read_json(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object; {} for an empty body when `optional`."""
    text = await request.text()
    if not text.strip():
        if optional:
            return {}
        raise ApiError(400, "a JSON object body is required")
    try:
        body = jsonio.loads(text)
    except ValueError as exc:
        raise ApiError(400, f"invalid JSON body: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def query_int(request: web.Request, name: str, default: int) -> int:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, f"invalid value for {name!r}: {value!r} is not a number") from None


#: Go's duration units, as moby's `since`/`until` take them ("30s", "1h30m", "1.5h").
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def query_time(request: web.Request, name: str) -> float | None:
    """A `since`/`until` parameter as moby reads it (timetypes.GetTimestamp): Unix seconds
    (with a fraction), an RFC 3339 time, or a Go duration counted back from now ("30s",
    "1h30m"); None when absent."""
    text = request.query.get(name, "").strip()
    return parse_time(text, name) if text else None


def parse_time(text: str, name: str) -> float:
    """`query_time`'s reading of one value (a filter's `until` too); a 400 naming `name`."""
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if parts and "".join(n + u for n, u in parts) == text.lstrip("-+"):
        span = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
        return time.time() - (-span if text.startswith("-") else span)
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ApiError(
            400, f"invalid {name} {text!r}: give Unix seconds, an RFC 3339 time or a duration"
        ) from None


def query_filters(request: web.Request) -> dict[str, set[str]]:
    """The `filters` parameter (a JSON object) in both of Docker's forms, `{"k": ["v"]}` and
    the older `{"k": {"v": true}}`: each key's wanted values."""
    text = request.query.get("filters")
    if not text:
        return {}
    try:
        raw = jsonio.loads(text)
    except ValueError as exc:
        raise ApiError(400, f"invalid filters: {exc}") from None
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid filters: they must be a JSON object")
    out: dict[str, set[str]] = {}
    for key, value in raw.items():
        if isinstance(value, list):
            values = value
        elif isinstance(value, dict):
            values = [k for k, on in value.items() if on]
        else:
            raise ApiError(400, f"invalid filter {key!r}: give a list of values")
        out[str(key)] = {str(v) for v in values}
    return out
