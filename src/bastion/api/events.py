"""`/events`: what happened to containers and images, as newline-delimited JSON, each object
flushed as it happens, with moby's `filters`, `since` and `until`.

The events are those of the API's own requests (create, start, die, destroy, pull...), kept in
a bounded in-memory history so `since` can replay the recent past. Containers the CLI drives
are not seen here yet (they would need an engine-level event log).
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

from aiohttp import web

from bastion import jsonio
from bastion.api.alert_events import FEED, TYPE
from bastion.api.bodies import query_filters, query_time
from bastion.api.containers import flag
from bastion.api.server import add

_HISTORY = 1024


class Bus:
    def __init__(self) -> None:
        self.history: collections.deque[dict[str, Any]] = collections.deque(maxlen=_HISTORY)
        self.listeners: set[asyncio.Queue[dict[str, Any]]] = set()

    def emit(
        self, kind: str, action: str, actor_id: str, attributes: dict[str, str] | None = None
    ) -> None:
        now = time.time_ns()
        attrs = dict(attributes or {})
        event = {
            "status": action,
            "id": actor_id,
            "from": attrs.get("image", ""),
            "Type": kind,
            "Action": action,
            "Actor": {"ID": actor_id, "Attributes": attrs},
            "scope": "local",
            "time": now // 1_000_000_000,
            "timeNano": now,
        }
        self.history.append(event)
        for queue in list(self.listeners):
            queue.put_nowait(event)


BUS = web.AppKey("events", Bus)


def register(app: web.Application) -> None:
    app[BUS] = Bus()
    add(app, "GET", "/events", events)


def _matches(event: dict[str, Any], filters: dict[str, set[str]]) -> bool:
    from bastion.api.alert_events import TYPE

    if event["Type"] == TYPE and TYPE not in filters.get("type", ()):
        return False  # bastion's alerts go only to a client that asks for them
    actor = event["Actor"]
    checks = {
        "type": {event["Type"]},
        "event": {event["Action"]},
        "container": {actor["ID"], actor["ID"][:12], actor["Attributes"].get("name", "")},
        "image": {actor["Attributes"].get("image", "")},
    }
    for key, wanted in filters.items():
        if key == "label":
            attrs = actor["Attributes"]
            if not all(
                (w.split("=", 1)[0] in attrs)
                if "=" not in w
                else attrs.get(w.split("=", 1)[0]) == w.split("=", 1)[1]
                for w in wanted
            ):
                return False
        elif key in checks and not wanted & checks[key]:
            return False
    return True


async def events(request: web.Request) -> web.StreamResponse:
    filters = query_filters(request)
    since, until = query_time(request, "since"), query_time(request, "until")
    # `stream=false` (Podman's compat layer, which its clients and tests send) answers the
    # recorded events and ends instead of following
    follow = flag(request, "stream", default=True)
    bus = request.app[BUS]
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    response.enable_chunked_encoding()
    await response.prepare(request)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    bus.listeners.add(queue)
    feed = request.app[FEED] if TYPE in filters.get("type", ()) else None
    if feed is not None:
        feed.subscribe(request.app)
    try:
        if since is not None:
            for event in list(bus.history):
                if event["timeNano"] / 1e9 >= since and _matches(event, filters):
                    if until is not None and event["timeNano"] / 1e9 > until:
                        break
                    await response.write(jsonio.dumps(event).encode() + b"\n")
        while follow:
            left = None if until is None else max(0.0, until - time.time())
            if left == 0.0:
                break
            # a client that went away is noticed within a second (aiohttp does not cancel
            # a handler waiting on something else than its connection)
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            try:
                event = await asyncio.wait_for(queue.get(), min(left or 1.0, 1.0))
            except TimeoutError:
                continue
            if _matches(event, filters):
                await response.write(jsonio.dumps(event).encode() + b"\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        bus.listeners.discard(queue)
        if feed is not None:
            feed.unsubscribe()
    return response
