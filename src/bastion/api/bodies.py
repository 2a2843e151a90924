"""Reading a request's JSON body and query numbers, with a 400 that says what was wrong."""

from __future__ import annotations

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
