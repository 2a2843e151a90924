"""The sensor's event path: events -> state -> rules -> alerts -> outputs (and actions).

One `Pipeline` serves every source (the live probe, a bastion capture, a .scap replay): the
source hands it batches of `Event`s; each event first updates the state tables (which attach
`event.thread`/`event.fd`), then meets the rules of its type; a match becomes an `Alert`
rendered once and handed to every output. Everything here runs on one thread, in event order.
"""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bastion.sensor.drops import DropAlerter, DropTally
from bastion.sensor.events.model import Direction, Event
from bastion.sensor.outputs.alert import Alert, Output
from bastion.sensor.rules.engine import CompiledRule, RuleEngine
from bastion.sensor.state.model import HOST_CONTAINER, Container, Thread


class State(Protocol):
    """What the pipeline needs of the state tables (`bastion.sensor.state.SensorState`)."""

    def apply(self, event: Event) -> None: ...

    def container_of(self, thread: Thread) -> Container: ...


class Renderer(Protocol):
    """A compiled rule output: the text with every %field substituted, and the field values."""

    def __call__(self, event: Event) -> tuple[str, dict[str, object]]: ...


Action = Callable[[CompiledRule, Event, Alert], str | None]
FeedLoop = Callable[..., int]


def _compiled_loop() -> FeedLoop | None:
    """`Pipeline.feed`'s loop in C (probe/accel.c `feed_loop`), None where the extension is off
    or not built (the Python loop, the definition, then runs)."""
    from bastion.sensor.probe import accel

    module = accel.load()
    loop: FeedLoop | None = getattr(module, "feed_loop", None) if module is not None else None
    return loop


@dataclass(slots=True)
class PipelineStats:
    """Counts since the pipeline started (the probe's own counters are separate)."""

    events: int = 0
    alerts: int = 0
    drop_alerts: int = 0


class Pipeline:
    """Feed it events; it keeps the state, runs the rules and emits alerts."""

    def __init__(
        self,
        *,
        engine: RuleEngine,
        state: State,
        outputs: Sequence[Output] = (),
        hostname: str | None = None,
        action: Action | None = None,
        drops: DropAlerter | None = None,
        containers_only: bool = False,
    ) -> None:
        self.engine = engine
        self.state = state
        self.outputs = list(outputs)
        self.hostname = hostname or socket.gethostname()
        self.action = action
        self.drops = drops
        self.stats = PipelineStats()
        # the sensor service watches containers, not the host: rules see container threads
        # only (the state still follows every thread, a container's processes come from
        # the host's)
        self._containers_only = containers_only
        self._match = self._rules_of(engine)
        # event type -> no loaded rule takes it (the state needs such events, the rules do
        # not: a flood's closes); fixed for the engine's life, so asked once per type
        self._quiet: dict[str, bool] = {}
        self._fed: list[Alert] = []  # the alerts of the batch being fed
        self._loop = _compiled_loop()

    def _rules_of(self, engine: RuleEngine) -> Callable[[Event], Iterable[CompiledRule]]:
        """What an event meets: the engine's rules, or (containers only) a container
        thread's event the engine's rules and any other event none."""
        return self._container_match if self._containers_only else engine.match

    def _container_match(self, event: Event) -> Iterable[CompiledRule]:
        thread = event.thread
        if thread is None or not thread.container_id:
            return ()
        return self.engine.match(event)

    def feed(self, events: Iterable[Event]) -> list[Alert]:
        """Apply and match a batch; returns the alerts it emitted (in event order)."""
        alerts: list[Alert] = []
        self._fed = alerts
        try:
            self._feed(events)
        finally:
            # the caller owns the batch's alerts now: none stays alive with the pipeline
            # until the next batch (a sink may hold many, each with its output fields)
            self._fed = []
        return alerts

    def _feed(self, events: Iterable[Event]) -> None:
        engine = self.engine
        loop = self._loop
        if loop is not None and self._match == self._rules_of(engine):
            # the same steps in C (probe/accel.c `feed_loop`): `_one` and `_hits` below are
            # what it calls back for, the engine's matchers what it calls
            count = loop(
                events,
                self.state.apply,
                self._quiet,
                engine.tables(),
                engine.directed,
                self._one,
                self._hits,
                Event,
                Direction.EXIT,
                Direction.ENTER,
                Thread if self._containers_only else None,
            )
        else:
            apply = self.state.apply
            one = self._one
            count = 0
            for event in events:
                count += 1
                apply(event)
                one(event)
        self.stats.events += count

    def _one(self, event: Event) -> None:
        """An applied event's way through the rules: nothing for a type no loaded rule takes
        (not even the dispatch to a matcher that returns nothing), else its matcher."""
        idle = self._quiet.get(event.type)
        if idle is None:
            idle = self._quiet[event.type] = not self.engine.candidates(event.type)
        if idle:
            return
        hits = self._match(event)
        if hits:  # most events raise nothing: no generator made for them
            self._fed.extend(self._alert(rule, event) for rule in hits)

    def _hits(self, event: Event, hits: Sequence[CompiledRule]) -> None:
        """The compiled loop's hits of `event`, counted as `RuleEngine.match` counts them."""
        self.engine.count(hits)
        self._fed.extend(self._alert(rule, event) for rule in hits)

    def _alert(self, rule: CompiledRule, event: Event) -> Alert:
        renderer: Renderer | None = rule.output  # type: ignore[assignment]
        fields: dict[str, object]
        if renderer is None:
            text, fields = rule.definition.output, {}
        else:
            text, fields = renderer(event)
        thread = event.thread
        container = self.state.container_of(thread) if thread is not None else HOST_CONTAINER
        alert = Alert(
            time_ns=event.ts,
            rule=rule.name,
            priority=rule.priority,
            output=text,
            output_fields=fields,
            tags=rule.tags,
            hostname=self.hostname,
            container_id=container.short_id,
            container_name=container.name,
            event_num=event.num,
        )
        if self.action is not None:
            taken = self.action(rule, event, alert)
            if taken is not None:
                alert = dataclasses.replace(alert, action=taken)
        self.stats.alerts += 1
        self.emit(alert)
        return alert

    def emit(self, alert: Alert) -> None:
        """Hand `alert` to every output (a rule's, or the sensor's own such as a drop alert)."""
        for output in self.outputs:
            output.emit(alert)

    def check_drops(self, tally: Callable[[], DropTally], *, final: bool = False) -> Alert | None:
        """The in-band drop alert (`bastion.sensor.drops`): `tally()` reads the source's drop
        counters, only when an alert could go out; `final` (the source has ended and its
        counters are final) reports every drop not yet reported, whatever the rate."""
        alerter = self.drops
        now = time.time_ns()
        if alerter is None or not (final or alerter.due(now)):
            return None
        counts = tally()
        alert = alerter.flush(counts, now) if final else alerter.observe(counts, now)
        if alert is not None:
            self.stats.drop_alerts += 1
            self.emit(alert)
        return alert

    def close(self) -> None:
        for output in self.outputs:
            output.close()
