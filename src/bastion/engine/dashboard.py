"""What `bastion dashboard` shows, as data: a snapshot of the engine's containers (CPU % and
memory from their cgroups, the sensor's alert count for each) and the latest alerts.

`Dashboard` samples an engine again and again: a container's CPU % is the CPU time it used
between two samples (`operations.cpu_percent`, as `bastion stats`), so a container's first
snapshot has none. The alerts are the alert store's (`Engine.alerts_db`, written by the sensor
service), read-only, and streamed: an `AlertFeed` keeps the newest lines and a count per
container, and each snapshot reads only the alerts stored since the last one it saw (by id),
not the newest N and every count again. Without a store, none. `Dashboard(container=...)`
shows one container and its alerts. `build_snapshot` is the pure part, so the model is tested
without an engine.
"""

from __future__ import annotations

import collections
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bastion.engine import operations
from bastion.engine.engine import RUNNING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from bastion.engine.engine import Engine
    from bastion.engine.metadata import ContainerRecord
    from bastion.engine.operations import ContainerStats
    from bastion.sensor.outputs.alert import Alert
    from bastion.sensor.outputs.store import AlertStore, Tail


@dataclass(frozen=True, slots=True)
class ContainerRow:
    """One container's line: `cpu_percent` is None until two samples exist, the memory and
    pids figures None when the container is not running (no cgroup to read)."""

    id: str
    name: str
    image: str
    status: str
    cpu_percent: float | None
    memory_usage: int | None
    memory_limit: int | None
    pids: int | None
    alerts: int


@dataclass(frozen=True, slots=True)
class AlertLine:
    time_ns: int
    priority: str
    rule: str
    container: str  # the container's name ("host" for the host's)
    output: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    taken: float  # time.time() of the sample
    containers: tuple[ContainerRow, ...]
    alerts: tuple[AlertLine, ...]  # the newest, oldest first
    total_alerts: int  # in the whole store


def build_snapshot(
    records: Iterable[ContainerRecord],
    before: Mapping[str, ContainerStats],
    now: Mapping[str, ContainerStats],
    counts: Mapping[str, int],
    alerts: Iterable[Alert],
    *,
    taken: float,
    memory_total: int,
) -> Snapshot:
    """The snapshot of `records` given their samples (`now`, and `before` from the previous
    snapshot, by container id), the store's alert counts (by short id) and newest alerts.
    A container without a limit is bounded by the host's memory (`memory_total`), as in
    `bastion stats`. Running containers come first, then by name."""
    rows = []
    for record in records:
        sample = now.get(record.id)
        previous = before.get(record.id)
        rows.append(
            ContainerRow(
                id=record.id[:12],
                name=record.name,
                image=record.image,
                status=record.status,
                cpu_percent=(
                    operations.cpu_percent(previous, sample)
                    if sample is not None and previous is not None
                    else None
                ),
                memory_usage=sample.memory_usage if sample is not None else None,
                memory_limit=(sample.memory_limit or memory_total) if sample is not None else None,
                pids=sample.pids if sample is not None else None,
                alerts=counts.get(record.id[:12], 0),
            )
        )
    rows.sort(key=lambda row: (row.status != RUNNING, row.name))
    lines = tuple(
        AlertLine(a.time_ns, a.priority, a.rule, a.container_name, a.output) for a in alerts
    )
    return Snapshot(taken, tuple(rows), lines, sum(counts.values()))


class AlertFeed:
    """The alerts a dashboard shows, kept up to date from the store's `Tail`s: the newest
    `lines` alerts (oldest first), the count of every alert by container short id, and the id
    of the last alert seen (the next tail starts after it)."""

    def __init__(self, lines: int) -> None:
        self.lines: collections.deque[Alert] = collections.deque(maxlen=max(0, lines))
        self.counts: collections.Counter[str] = collections.Counter()
        self.seen = 0

    def apply(self, tail: Tail) -> None:
        if tail.restarted:  # a new store: what was shown belongs to the old one
            self.lines.clear()
            self.counts.clear()
        self.lines.extend(tail.alerts)
        self.counts.update(tail.counts)
        self.seen = tail.last_id


class Dashboard:
    """Snapshots of `engine`, each sampled against the one before (`all_containers`: the
    stopped ones too; `alert_lines`: how many of the newest alerts; `container`: a name, id or
    id prefix, to show that container alone, whatever its state, and its alerts; an unknown
    one is the engine's not-found error, at once). Close it (or use `with`) to close the
    store it keeps open between snapshots."""

    def __init__(
        self,
        engine: Engine,
        *,
        all_containers: bool = False,
        alert_lines: int = 10,
        container: str | None = None,
    ) -> None:
        self.engine = engine
        self.all_containers = all_containers
        self.alert_lines = alert_lines
        self.container_id = None if container is None else engine.container(container).id
        self.feed = AlertFeed(alert_lines)
        self._store: AlertStore | None = None
        self._store_inode: int | None = None
        self._before: dict[str, ContainerStats] = {}
        self._memory_total = operations.host_memory()

    def __enter__(self) -> Dashboard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
            self._store_inode = None

    def snapshot(self) -> Snapshot:
        from bastion.engine.errors import ContainerStateError

        records = self._records()
        now = {}
        for record in records:
            if record.status != RUNNING:
                continue
            try:  # one that ends between the listing and its sample is shown without figures
                now[record.id] = self.engine.stats(record.id)
            except (ContainerStateError, OSError):
                continue
        self._follow_alerts()
        snapshot = build_snapshot(
            records,
            self._before,
            now,
            self.feed.counts,
            self.feed.lines,
            taken=time.time(),
            memory_total=self._memory_total,
        )
        self._before = now
        return snapshot

    def _records(self) -> list[ContainerRecord]:
        if self.container_id is None:
            return self.engine.containers(all=self.all_containers)
        return [r for r in self.engine.containers(all=True) if r.id == self.container_id]

    def _follow_alerts(self) -> None:
        """Read the alerts stored since the last snapshot into the feed; (re)open the store
        when it appears or is replaced by a new file (then the feed starts over)."""
        from bastion.sensor.outputs.errors import AlertStoreError
        from bastion.sensor.outputs.store import AlertStore

        path = self.engine.alerts_db
        try:
            inode: int | None = os.stat(path).st_ino
        except FileNotFoundError:
            inode = None
        if inode != self._store_inode:
            self.close()
            self.feed = AlertFeed(self.alert_lines)
            if inode is not None:
                try:
                    self._store = AlertStore(path, readonly=True)
                except AlertStoreError:  # the sensor is making it: the next snapshot reads it
                    return
                self._store_inode = inode
        if self._store is None:
            return
        container = None if self.container_id is None else self.container_id[:12]
        tail = self._store.tail(self.feed.seen, container=container, limit=self.alert_lines)
        self.feed.apply(tail)
