"""`bastion watch`: run rules on live events (or a replayed capture) and send alerts out.

Live: the probe's in-kernel filters take `--container` (cgroup ids from identity.json); the
state is seeded from /proc; batches go through the pipeline (state -> rules -> outputs) until
the duration ends or SIGINT/SIGTERM. `--replay FILE` runs the same pipeline on a .scap or a
bastion capture. Either way the end-of-run report has the drop counters: a run that lost events
says how many.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.sensor.assemble import Rules
    from bastion.sensor.outputs.options import OutputOptions
    from bastion.sensor.outputs.prometheus import Metrics
    from bastion.sensor.pipeline import Pipeline
    from bastion.sensor.sources import Source
    from bastion.sensor.state import SensorState

HELP = "watch containers with Falco rules: alerts to stdout, files, syslog, webhooks, SQLite"


def configure(parser: argparse.ArgumentParser) -> None:
    from bastion.cli.front.commands.capture import add_live_options
    from bastion.sensor.outputs.options import add_output_arguments

    parser.add_argument(
        "-r",
        "--rules",
        action="append",
        metavar="FILE",
        help="rules file, repeatable, loaded in order (default: bastion's rules)",
    )
    parser.add_argument("--replay", metavar="FILE", help="a .scap or bastion capture, not live")
    parser.add_argument(
        "-c", "--config", metavar="FILE", help="a Falco-style YAML configuration (flags win)"
    )
    parser.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a configuration key, as Falco's -o (text or json alone: the stdout format)",
    )
    parser.add_argument(
        "--rule-matching", choices=("first", "all"), default=None, help="Falco's rule_matching"
    )
    parser.add_argument("--min-priority", default=None, metavar="P", help="skip rules below P")
    select = parser.add_argument_group(
        "rule selection", "applied in the order given, after the configuration's 'rules:'"
    )
    for flags, enable, kind, only, what in (
        (("-D", "--disable-rule"), False, "rule", False, "disable rules whose name matches"),
        (("-T", "--disable-tag"), False, "tag", False, "disable rules with this tag"),
        (("-t", "--tag"), True, "tag", True, "run only rules with this tag (repeatable)"),
        (("--enable-rule",), True, "rule", False, "enable rules whose name matches"),
        (("--enable-tag",), True, "tag", False, "enable rules with this tag"),
    ):
        select.add_argument(
            *flags,
            action=_Select,
            dest="selection",
            default=[],
            metavar=kind.upper(),
            help=what,
            const=(enable, kind, only),
        )
    select.add_argument(
        "--rule-name-match",
        choices=("substring", "exact"),
        default=None,
        help="how rule names match: substring (default, as Falco 0.34's -D) or exact",
    )
    parser.add_argument(
        "-p",
        "--container-info",
        metavar="FORMAT",
        help="what %%container.info expands to (c: Falco's -pc format)",
    )
    parser.add_argument(
        "--kill",
        metavar="PRIORITY",
        help="kill the container process behind an alert of PRIORITY or worse (beyond Falco)",
    )
    parser.add_argument(
        "--spill-limit",
        type=int,
        default=None,
        metavar="MIB",
        help="memory for events read but not yet evaluated (default 512; 0: no spill area)",
    )
    parser.add_argument(
        "--no-kernel-filter",
        action="store_true",
        help="send every open to user space (by default the probe keeps back read-only opens "
        "of paths no loaded rule can match, derived from the rules)",
    )
    add_live_options(parser)
    add_output_arguments(parser)


class _Select(argparse.Action):
    """Appends a rule `Selector` to `dest`, keeping the order of the flags."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from bastion.sensor.rules.selection import Selector

        enable, kind, only = self.const
        selection = [*getattr(namespace, self.dest, []), Selector(enable, kind, str(values), only)]
        setattr(namespace, self.dest, selection)


def run(args: argparse.Namespace) -> int:
    from bastion.sensor.assemble import load_rules, new_state
    from bastion.sensor.config import watch_config_from
    from bastion.sensor.outputs.factory import build_outputs
    from bastion.sensor.outputs.options import merge_options, options_from_args
    from bastion.sensor.pipeline import Pipeline

    formats = [o for o in args.option if o in ("text", "json")]
    config = watch_config_from(args.config, [o for o in args.option if o not in formats])
    for warning in config.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    state = new_state(args.root)
    rules = load_rules(
        args.rules or list(config.rules_files) or None,
        state,
        rule_matching=args.rule_matching or config.rule_matching or "first",
        min_priority=args.min_priority or config.min_priority or "debug",
        selection=(*config.selection, *args.selection),
        name_match=args.rule_name_match or config.name_match or "substring",
        container_info=args.container_info or config.container_info,
    )
    for warning in rules.engine.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    options = merge_options(config.outputs, options_from_args(args))
    if formats:
        options = _with_json(options, formats[-1] == "json")
    action = None
    if args.kill:
        from bastion.sensor.actions import KillProcess

        action = KillProcess(args.kill)
    outputs = build_outputs(options)
    from bastion.sensor.config import drop_settings
    from bastion.sensor.drops import DropAlerter, cgroup_namer

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
    )
    sys.stderr.write(f"bastion: {len(rules.engine.rules)} rules from {', '.join(rules.files)}\n")
    from bastion.cli.front.report import write_statistics
    from bastion.sensor.live import Stopper, statistics

    with Stopper(args.duration) as stop:
        try:
            source = _source(args, state, stop.done, rules)
            try:
                _run(source, pipeline, outputs.metrics)
            finally:
                source.close()
        finally:
            pipeline.close()  # flushes the outputs (webhook queue, SQLite batch) even on error
    report: dict[str, int | float] = {"events": pipeline.stats.events, **source.statistics}
    report["alerts"] = pipeline.stats.alerts
    if pipeline.stats.drop_alerts:
        report["drop alerts"] = pipeline.stats.drop_alerts
    if action is not None:
        report["processes killed"] = action.killed
    write_statistics(statistics(report))
    return 0


def _with_json(options: OutputOptions, json: bool) -> OutputOptions:
    import dataclasses

    return dataclasses.replace(options, json=json)


def _source(
    args: argparse.Namespace, state: SensorState, done: Callable[[], bool], rules: Rules
) -> Source:
    """The replayed capture, or the live probe filtered to `--container` in the kernel, and
    to the opens some rule can match (unless `--no-kernel-filter`)."""
    import dataclasses

    from bastion.cli.front.commands.capture import live_from_args
    from bastion.sensor.live import open_probe
    from bastion.sensor.sources import ProbeSource, open_recording

    if args.replay:
        return open_recording(args.replay, state)
    live = live_from_args(args)
    if not args.no_kernel_filter:
        from bastion.sensor.kernel_filter import compile_filter

        derived = compile_filter(rules.engine, rules.ruleset)
        sys.stderr.write(f"bastion: {derived.describe()}\n")
        live = dataclasses.replace(live, open_filter=derived.open_filter())
    probe = open_probe(live)
    state.seed_from_proc()

    def started() -> None:
        sys.stderr.write("bastion: watching (SIGINT or SIGTERM stops)\n")
        sys.stderr.flush()  # a caller waits for this line before starting its workload

    from bastion.sensor.spill import SpillSettings

    spill = (
        SpillSettings()
        if args.spill_limit is None
        else SpillSettings(limit_bytes=args.spill_limit << 20)
    )
    return ProbeSource(state, probe, done, started, spill=spill)


def _run(source: Source, pipeline: Pipeline, metrics: Metrics) -> None:
    """Every batch through the pipeline; the drop counters to Prometheus once a second."""
    import time

    from bastion.sensor.sources import ProbeSource

    probe = source.probe if isinstance(source, ProbeSource) else None
    next_drops = 0.0
    for batch in source.batches():
        pipeline.feed(batch)
        pipeline.check_drops(source.drops)
        metrics.count_events(len(batch))
        now = time.monotonic()
        if probe is not None and now >= next_drops:
            metrics.set_drops("ring_full", probe.statistics().dropped_ring_full)
            next_drops = now + 1.0
    pipeline.check_drops(source.drops, final=True)  # the counters are final: report the rest
