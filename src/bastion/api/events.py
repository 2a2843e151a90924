"""`/events`: what happened to containers, images, networks and volumes, as newline-delimited
JSON, each object flushed as it happens, with moby's `filters`, `since` and `until`.

The events are the engine's event log (engine/events_log.py), written by the engine's verbs
whoever called them (this server, the CLI, a monitor's exit command): `since` replays it, and
the log is then followed by a short poll. bastion's alerts (alert_events.py) come from the
alert store through the `Bus` here, only to a client that filters for them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from typing import Any

from aiohttp import web

from bastion import jsonio
from bastion.api.alert_events import FEED, TYPE
from bastion.api.bodies import query_filters, query_time
from bastion.api.containers import flag
from bastion.api.server import add, in_engine
from bastion.engine.events_log import matches

_HISTORY = 1024


#: How often a follower looks for new lines in the event log.
_POLL = 0.1


class Bus:
    """bastion's alerts (alert_events.py) on their way to the clients listening for them, and
    the recent ones, for `since`."""

    def __init__(self) -> None:
        self.history: collections.deque[dict[str, Any]] = collections.deque(maxlen=_HISTORY)
        self.listeners: set[asyncio.Queue[dict[str, Any]]] = set()

    def emit(
        self, kind: str, action: str, actor_id: str, attributes: dict[str, str] | None = None
    ) -> None:
        from bastion.engine.events_log import event

        found = event(kind, action, actor_id, dict(attributes or {}))
        self.history.append(found)
        for queue in list(self.listeners):
            queue.put_nowait(found)


BUS = web.AppKey("events", Bus)


def register(app: web.Application) -> None:
    app[BUS] = Bus()
    add(app, "GET", "/events", events)


def _matches(event: dict[str, Any], filters: dict[str, set[str]]) -> bool:
    if event.get("Type") == TYPE and TYPE not in filters.get("type", ()):
        return False  # bastion's alerts go only to a client that asks for them
    return matches(event, filters)


async def events(request: web.Request) -> web.StreamResponse:
    filters = query_filters(request)
    since, until = query_time(request, "since"), query_time(request, "until")
    # `stream=false` (Podman's compat layer, which its clients and tests send) answers the
    # recorded events and ends instead of following
    follow = flag(request, "stream", default=True)
    bus = request.app[BUS]
    tail = await in_engine(request, lambda e: e.event_log.tail(from_start=since is not None))
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    response.enable_chunked_encoding()
    alerts: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    bus.listeners.add(alerts)
    feed = request.app[FEED] if TYPE in filters.get("type", ()) else None
    if feed is not None:
        feed.subscribe(request.app)

    def wanted(event: dict[str, Any]) -> bool:
        moment = event.get("timeNano", 0) / 1e9
        if since is not None and moment < since:
            return False
        return (until is None or moment <= until) and _matches(event, filters)

    try:
        await response.prepare(request)
        found = list(bus.history) if since is not None else []
        # a replay may read the whole log (up to 16 MiB): in a thread; what a poll finds
        # after it is a few short lines, read in the loop
        found += await asyncio.to_thread(tail.read)
        while True:
            while not alerts.empty():
                found.append(alerts.get_nowait())
            for event in sorted(found, key=lambda e: int(e.get("timeNano", 0))):
                if wanted(event):
                    await response.write(jsonio.dumps(event).encode() + b"\n")
            found = []
            if not follow or (until is not None and time.time() > until):
                break
            # a client that went away is noticed within a poll (aiohttp does not cancel a
            # handler waiting on something else than its connection)
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            with contextlib.suppress(TimeoutError):
                found.append(await asyncio.wait_for(alerts.get(), _POLL))
            found += tail.read()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        tail.close()
        bus.listeners.discard(alerts)
        if feed is not None:
            feed.unsubscribe()
    return response
