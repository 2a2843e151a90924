"""The in-band drop alert: lost events are said in the alert stream itself, not only on stderr.

Falco's answer to "syscall event drop" evasion is an internal alert; bastion's is the same
idea, with the detail an investigator needs: how many events were lost since the last drop
alert, of which event types and loss classes (events/schema.py's `loss_class`: the critical
class travels in its own ring and is the last the spill area gives up), in which containers
(by cgroup id, named from the state's container table) and over which window.

`DropAlerter.observe(tally, now_ns)` is called as often as the caller likes (the pipeline asks
`due` after every batch, which lets the counters be read every `CHECK_INTERVAL_NS`); it emits
at most one alert per `DropAlertSettings.interval_s` (a burst of drops is one alert, not
thousands), and `flush` at the end of a run emits whatever is left, so the counts of every
drop alert of a run add up to the run's drop counters exactly.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar

from bastion.sensor.events.schema import BY_CODE
from bastion.sensor.outputs.alert import Alert, priority_rank

K = TypeVar("K")
RULE = "Bastion internal: syscall event drop"
#: How often `due` lets the counters be read at most (ns): reading them is ~70 per-CPU map
#: look-ups (0.4 ms), which once per batch doubled the cost of evaluating a lone exec and
#: queued the alerts behind it; a drop alert may come this much later.
CHECK_INTERVAL_NS = 100_000_000


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DropAlertSettings:
    """How drops are reported in the alert stream (a config file's keys map onto these).

    `interval_s`: at most one drop alert per interval (Falco's `syscall_event_drops.rate` is
    its inverse); `priority`: the alert's priority (being blinded is serious: Critical);
    `enabled`: False leaves drops to the end-of-run counters alone (as before)."""

    enabled: bool = True
    interval_s: float = 1.0
    priority: str = "Critical"

    def __post_init__(self) -> None:
        if priority_rank(self.priority) is None:
            raise ValueError(f"unknown priority {self.priority!r}")
        if self.interval_s < 0:
            raise ValueError("interval_s must not be negative")


@dataclasses.dataclass(frozen=True, slots=True)
class DropTally:
    """Events lost so far in a run, cumulative: by event code and by cgroup id, and where
    (`where`: "ring" for the probe's full ring, "spill" for the spill area's limit)."""

    by_code: Mapping[int, int]
    by_cgroup: Mapping[int, int]
    by_place: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_code.values())


NO_DROPS = DropTally({}, {}, {})


class _Named(Protocol):
    @property
    def short_id(self) -> str: ...


class _Containers(Protocol):
    def by_cgroup_id(self, cgroup_id: int) -> _Named | None: ...


def cgroup_namer(containers: _Containers) -> Callable[[int], str]:
    """Names a cgroup id for the alert: its container's short id, else "host" (any cgroup no
    known container owns: the alert's fields keep the raw ids)."""

    def name(cgroup_id: int) -> str:
        found = containers.by_cgroup_id(cgroup_id)
        return found.short_id if found is not None else "host"

    return name


def _minus(now: Mapping[K, int], then: Mapping[K, int]) -> dict[K, int]:
    return {k: v - then.get(k, 0) for k, v in now.items() if v - then.get(k, 0) > 0}


class DropAlerter:
    """Turns cumulative drop tallies into rate-limited alerts (see the module's docstring).

    `name_cgroup(cgroup_id)` names a cgroup for the alert (a container's short id, or "host");
    `emitted` counts the events the alerts so far have reported."""

    def __init__(
        self,
        settings: DropAlertSettings = DropAlertSettings(),
        *,
        hostname: str = "",
        name_cgroup: Callable[[int], str] = str,
    ) -> None:
        self.settings = settings
        self.hostname = hostname
        self._name_cgroup = name_cgroup
        self._reported = NO_DROPS
        self._window_start: int | None = None
        self._last_alert_ns: int | None = None
        self._checked_ns: int | None = None
        self.emitted = 0

    def due(self, now_ns: int) -> bool:
        """Whether an alert could go out now (the caller may skip reading the counters)."""
        if not self.settings.enabled:
            return False
        checked = self._checked_ns
        if checked is not None and now_ns - checked < CHECK_INTERVAL_NS:
            return False
        last = self._last_alert_ns
        return last is None or now_ns - last >= int(self.settings.interval_s * 1e9)

    def observe(self, tally: DropTally, now_ns: int) -> Alert | None:
        """An alert for the drops since the last one, if there are any and the rate allows."""
        self._checked_ns = now_ns
        if self._window_start is None:
            self._window_start = now_ns
        if not self.settings.enabled or tally.total <= self._reported.total:
            return None
        interval_ns = int(self.settings.interval_s * 1e9)
        if self._last_alert_ns is not None and now_ns - self._last_alert_ns < interval_ns:
            return None
        return self._alert(tally, now_ns)

    def flush(self, tally: DropTally, now_ns: int) -> Alert | None:
        """The run is over: an alert for every drop not yet reported, whatever the rate."""
        if self._window_start is None:
            self._window_start = now_ns
        if not self.settings.enabled or tally.total <= self._reported.total:
            return None
        return self._alert(tally, now_ns)

    def _alert(self, tally: DropTally, now_ns: int) -> Alert:
        then = self._reported
        by_code = _minus(tally.by_code, then.by_code)
        by_cgroup = _minus(tally.by_cgroup, then.by_cgroup)
        by_place = _minus(tally.by_place, then.by_place)
        lost = sum(by_code.values())
        types: Counter[str] = Counter()
        classes: Counter[str] = Counter()
        for code, n in by_code.items():
            spec = BY_CODE.get(code)
            types[spec.name if spec else f"code {code}"] += n
            classes[spec.loss_class if spec else "bulk"] += n
        containers: Counter[str] = Counter()
        for cgroup_id, n in by_cgroup.items():
            containers[self._name_cgroup(cgroup_id)] += n
        start = self._window_start if self._window_start is not None else now_ns
        seconds = (now_ns - start) / 1e9
        listing = ", ".join(f"{name}={n}" for name, n in types.most_common())
        where = ", ".join(f"{name}={n}" for name, n in containers.most_common())
        text = (
            f"{RULE}. {lost} events dropped in the last {seconds:.3f}s "
            f"(critical={classes.get('critical', 0)} bulk={classes.get('bulk', 0)}; "
            f"types: {listing}; containers: {where or '<NA>'})"
        )
        # flat scalar fields, as Falco's own drop alert has: every output (JSON, SQLite, the
        # webhook's body) keeps them as they are
        fields: dict[str, object] = {
            "n_drops": lost,
            "n_drops_total": tally.total,
            "n_drops_critical": classes.get("critical", 0),
            "n_drops_bulk": classes.get("bulk", 0),
            "window_start_ns": start,
            "window_end_ns": now_ns,
        }
        fields.update((f"n_drops_{place}", n) for place, n in sorted(by_place.items()))
        fields.update((f"drops.type.{name}", n) for name, n in types.most_common())
        fields.update((f"drops.container.{name}", n) for name, n in containers.most_common())
        fields.update((f"drops.cgroup.{cg}", n) for cg, n in sorted(by_cgroup.items()))
        self._reported = DropTally(dict(tally.by_code), dict(tally.by_cgroup), dict(tally.by_place))
        self._window_start = now_ns
        self._last_alert_ns = now_ns
        self.emitted += lost
        return Alert(
            time_ns=now_ns,
            rule=RULE,
            priority=self.settings.priority,
            output=text,
            output_fields=fields,
            source="internal",
            tags=("bastion_internal", "event_drop"),
            hostname=self.hostname,
        )
