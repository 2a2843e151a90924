"""bastion's alerts on `/events`: what the sensor stored in the engine's alert store
(ROOT/alerts.db) becomes events of Type `bastion`, Action `alert`, the container as the actor
(its short id, as alerts carry it) and the rule, priority, output and action as attributes.

They go only to a client that asks for them (`filters={"type":["bastion"]}`): a plain
`docker events`, and tools that know moby's types only, never see them. The store is polled
(every half second) only while such a client listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiohttp import web

from bastion.api.server import ENGINE_KEY, EngineFactory

TYPE = "bastion"
_POLL = 0.5


class AlertFeed:
    """Polls the alert store while `listeners` > 0, emitting each new alert once."""

    def __init__(self) -> None:
        self.listeners = 0
        self.task: asyncio.Task[None] | None = None
        # the newest alert time seen and the alerts seen at that time (a poll asks again for
        # that nanosecond: alerts may share it)
        self.last_ns = time.time_ns()
        self.seen_at_last: set[tuple[Any, ...]] = set()

    def subscribe(self, app: web.Application) -> None:
        self.listeners += 1
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(app))

    def unsubscribe(self) -> None:
        self.listeners -= 1

    def _poll(self, factory: EngineFactory) -> list[dict[str, Any]]:
        with factory.open() as engine:
            return engine.alerts_since(self.last_ns)

    async def _run(self, app: web.Application) -> None:
        from bastion.api.events import BUS

        bus, factory = app[BUS], app[ENGINE_KEY]
        while self.listeners > 0:
            with contextlib.suppress(Exception):  # a store mid-creation: the next poll
                for alert in await asyncio.to_thread(self._poll, factory):
                    key = (
                        alert["time_ns"],
                        alert["container_id"],
                        alert["rule"],
                        alert["event_num"],
                    )
                    if alert["time_ns"] == self.last_ns and key in self.seen_at_last:
                        continue
                    if alert["time_ns"] > self.last_ns:
                        self.last_ns, self.seen_at_last = alert["time_ns"], set()
                    self.seen_at_last.add(key)
                    bus.emit(TYPE, "alert", alert["container_id"], _attributes(alert))
            await asyncio.sleep(_POLL)


def _attributes(alert: dict[str, Any]) -> dict[str, str]:
    attrs = {
        "name": alert["container_name"],
        "rule": alert["rule"],
        "priority": alert["priority"],
        "output": alert["output"],
    }
    if alert["action"]:
        attrs["action"] = alert["action"]
    return attrs


FEED = web.AppKey("alert_feed", AlertFeed)


def register(app: web.Application) -> None:
    app[FEED] = AlertFeed()
