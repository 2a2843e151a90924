"""A watch session: rules on live events (or a replayed capture) until told to stop.

What `bastion watch` and the `bastion sensor` service run, as a library: `WatchSettings` says
what to load and where alerts go; `run_watch` loads the configuration and the rules, opens the
source (the live probe, seeded from /proc, or a recording), feeds every batch through the
pipeline (state -> rules -> outputs -> actions), checks the drop counters as it goes, and
returns the end-of-run counters. `started` is called once events flow (the probe attached):
callers wait for it before starting a workload they want seen.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from bastion.identity import DEFAULT_STATE_ROOT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.sensor.assemble import Rules
    from bastion.sensor.live import LiveFilter
    from bastion.sensor.outputs.options import OutputOptions
    from bastion.sensor.outputs.prometheus import Metrics
    from bastion.sensor.pipeline import Pipeline
    from bastion.sensor.probe import KillPlan
    from bastion.sensor.rules.selection import Selector
    from bastion.sensor.sources import Source
    from bastion.sensor.state import SensorState


@dataclass(frozen=True)
class WatchSettings:
    """What a watch loads and runs; None fields fall back to the configuration file's values,
    then to bastion's defaults (as Falco: flags over `-c FILE` over defaults)."""

    runtime_root: str = DEFAULT_STATE_ROOT
    rules: tuple[str, ...] = ()  # empty: the configuration's, else bastion's default rules
    config: str | None = None  # a Falco-style YAML configuration
    config_options: tuple[str, ...] = ()  # -o KEY=VALUE
    json: bool | None = None  # `-o json` / `-o text`: the stdout format
    outputs: OutputOptions | None = None  # the output flags (None: the configuration's)
    rule_matching: str | None = None
    min_priority: str | None = None
    selection: tuple[Selector, ...] = ()
    name_match: str | None = None
    container_info: str | None = None
    kill: str | None = None  # kill the process behind alerts of this priority or worse
    actions: tuple[str, ...] = ()  # --action ACTION=PRIORITY|rule:NAME (sensor/actions.py)
    containers_only: bool = False  # rules run on container threads only (the host is not watched)
    kernel_filter: bool = True  # keep back in the kernel the opens no loaded rule can match
    kernel_kill: bool = True  # kill_process in the probe for the matches it can decide
    spill_limit_mib: int | None = None
    duration: float | None = None
    replay: str | None = None  # a .scap or bastion capture instead of the live probe
    live: LiveFilter | None = None  # the probe's filters (required when not replaying)


def run_watch(
    settings: WatchSettings,
    *,
    warn: Callable[[str], None],
    note: Callable[[str], None] | None = None,
    started: Callable[[], None] | None = None,
) -> dict[str, int | float]:
    """Run the watch to its end (duration, SIGINT or SIGTERM, or the recording's end); returns
    the end-of-run counters (events, drops, alerts, actions). `warn` gets the configuration's
    and the rules' warnings, `note` what was loaded."""
    from bastion.sensor.assemble import load_rules, new_state
    from bastion.sensor.config import drop_settings, watch_config_from
    from bastion.sensor.drops import DropAlerter, cgroup_namer
    from bastion.sensor.live import Stopper
    from bastion.sensor.outputs.factory import build_outputs
    from bastion.sensor.outputs.options import OutputOptions, merge_options
    from bastion.sensor.pipeline import Pipeline

    config = watch_config_from(settings.config, list(settings.config_options))
    for warning in config.warnings:
        warn(warning)
    state = new_state(settings.runtime_root)
    rules = load_rules(
        list(settings.rules or config.rules_files) or None,
        state,
        rule_matching=settings.rule_matching or config.rule_matching or "first",
        min_priority=settings.min_priority or config.min_priority or "debug",
        selection=(*config.selection, *settings.selection),
        name_match=settings.name_match or config.name_match or "substring",
        container_info=settings.container_info or config.container_info,
    )
    for warning in rules.engine.warnings:
        warn(warning)
    options = merge_options(config.outputs, settings.outputs or OutputOptions())
    if settings.json is not None:
        options = dataclasses.replace(options, json=settings.json)
    from bastion.sensor.actions import Enforcer, parse_actions

    policy = parse_actions(settings.actions, settings.kill)
    action = None
    if not policy.empty or any(r.definition.actions for r in rules.engine.rules):
        action = Enforcer(policy, (settings.runtime_root,))
    kill_plan = None
    if action is not None and settings.kernel_kill and not settings.replay:
        from bastion.sensor.kernel_kill import compile_kill

        derived_kill = compile_kill(rules.engine, rules.ruleset, policy.actions_for)
        if note is not None:
            note(derived_kill.describe())
        kill_plan = derived_kill.plan()
    outputs = build_outputs(options)
    drops = DropAlerter(
        drop_settings(config.drops),
        hostname=options.hostname or state.hostname,
        name_cgroup=cgroup_namer(state.containers),
    )
    pipeline = Pipeline(
        engine=rules.engine,
        state=state,
        outputs=[outputs],
        hostname=options.hostname or state.hostname,
        action=action,
        drops=drops,
        containers_only=settings.containers_only,
    )
    if note is not None:
        note(f"{len(rules.engine.rules)} rules from {', '.join(rules.files)}")
    with Stopper(settings.duration) as stop:
        try:
            source = _source(settings, state, stop.done, started, rules, note, kill_plan)
            try:
                _run(source, pipeline, outputs.metrics, state if kill_plan else None)
            finally:
                source.close()
        finally:
            pipeline.close()  # flushes the outputs (webhook queue, SQLite batch) even on error
            state.containers.close()
    report: dict[str, int | float] = {"events": pipeline.stats.events, **source.statistics}
    report["alerts"] = pipeline.stats.alerts
    if rules.verdicts is not None and rules.verdicts.skipped:
        # opens whose rules were skipped: judged by their file, no loaded rule can match them
        report["opens judged by file"] = rules.verdicts.skipped
    if pipeline.stats.drop_alerts:
        report["drop alerts"] = pipeline.stats.drop_alerts
    if action is not None:
        report["processes killed"] = action.killed
        if kill_plan is not None:
            report["of which in the kernel"] = action.killed_in_kernel
            probe_kills = _probe_kills(source)
            if probe_kills != action.killed_in_kernel:  # an event lost with its ring's records
                report["kernel kills done"] = probe_kills
        report["containers killed"] = action.killed_containers
        report["containers paused"] = action.paused
        if action.failed:
            report["actions failed"] = action.failed
    return report


def _source(
    settings: WatchSettings,
    state: SensorState,
    done: Callable[[], bool],
    started: Callable[[], None] | None,
    rules: Rules,
    note: Callable[[str], None] | None,
    kill_plan: KillPlan | None = None,
) -> Source:
    """The replayed capture, or the live probe with its in-kernel filters: `--container`, and
    the opens no loaded rule can match (`kernel_filter.py`, unless turned off)."""
    from bastion.sensor.live import open_probe
    from bastion.sensor.sources import ProbeSource, open_recording
    from bastion.sensor.spill import SpillSettings

    if settings.replay:
        return open_recording(settings.replay, state)
    if settings.live is None:
        raise ValueError("a live watch needs its probe filters (WatchSettings.live)")
    live = settings.live
    if settings.kernel_filter:
        from bastion.sensor.kernel_filter import compile_filter

        derived = compile_filter(rules.engine, rules.ruleset)
        if note is not None:
            note(derived.describe())
        live = dataclasses.replace(live, open_filter=derived.open_filter())
    if kill_plan is not None:
        live = dataclasses.replace(live, kill_plan=kill_plan)
    probe = open_probe(live)
    state.seed_from_proc()
    state.containers.watch_identities()  # closed with the state (`run_watch`)
    state.containers.read_engines = True  # other engines' containers named from their state
    spill = (
        SpillSettings()
        if settings.spill_limit_mib is None
        else SpillSettings(limit_bytes=settings.spill_limit_mib << 20)
    )
    return ProbeSource(state, probe, done, started or (lambda: None), spill=spill)


def _probe_kills(source: Source) -> int:
    from bastion.sensor.sources import ProbeSource

    return source.probe.kills()[0] if isinstance(source, ProbeSource) else 0


def _run(
    source: Source, pipeline: Pipeline, metrics: Metrics, kill_state: SensorState | None = None
) -> None:
    """Every batch through the pipeline; the drop counters to Prometheus once a second; with
    an in-kernel kill (`kill_state`), the probe armed in containers as they start."""
    import time

    from bastion.sensor.sources import ProbeSource

    probe = source.probe if isinstance(source, ProbeSource) else None
    arming = None
    if probe is not None and kill_state is not None:
        from bastion.sensor.kernel_kill import KillArming

        arming = KillArming(kill_state, probe.arm_kill, probe.disarm_kill)
    next_drops = 0.0
    for batch in source.batches():
        pipeline.feed(batch)
        if arming is not None:
            arming.sync()
        pipeline.check_drops(source.drops)
        metrics.count_events(len(batch))
        now = time.monotonic()
        if probe is not None and now >= next_drops:
            metrics.set_drops("ring_full", probe.statistics().dropped_ring_full)
            next_drops = now + 1.0
    pipeline.check_drops(source.drops, final=True)  # the counters are final: report the rest
