"""What `bastion dashboard` shows, as data: a snapshot of the engine's containers (CPU % and
memory from their cgroups, the sensor's alert count for each) and the latest alerts.

`Dashboard` samples an engine again and again: a container's CPU % is the CPU time it used
between two samples (`operations.cpu_percent`, as `bastion stats`), so a container's first
snapshot has none. The alerts are the alert store's (`Engine.alerts_db`, written by the sensor
service): its newest lines and a count per container, read-only; without a store, none.
`build_snapshot` is the pure part, so the model is tested without an engine.
"""

from __future__ import annotations

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


class Dashboard:
    """Snapshots of `engine`, each sampled against the one before (`all_containers`: the
    stopped ones too; `alert_lines`: how many of the newest alerts)."""

    def __init__(
        self, engine: Engine, *, all_containers: bool = False, alert_lines: int = 10
    ) -> None:
        self.engine = engine
        self.all_containers = all_containers
        self.alert_lines = alert_lines
        self._before: dict[str, ContainerStats] = {}
        self._memory_total = operations.host_memory()

    def snapshot(self) -> Snapshot:
        from bastion.engine.errors import ContainerStateError

        records = self.engine.containers(all=self.all_containers)
        now = {}
        for record in records:
            if record.status != RUNNING:
                continue
            try:  # one that ends between the listing and its sample is shown without figures
                now[record.id] = self.engine.stats(record.id)
            except (ContainerStateError, OSError):
                continue
        counts, alerts = self._alerts()
        snapshot = build_snapshot(
            records,
            self._before,
            now,
            counts,
            alerts,
            taken=time.time(),
            memory_total=self._memory_total,
        )
        self._before = now
        return snapshot

    def _alerts(self) -> tuple[dict[str, int], list[Alert]]:
        if not os.path.exists(self.engine.alerts_db):
            return {}, []
        from bastion.sensor.outputs.store import AlertStore

        store = AlertStore(self.engine.alerts_db, readonly=True)
        try:
            return store.counts_by_container(), store.query(limit=self.alert_lines)
        finally:
            store.close()
