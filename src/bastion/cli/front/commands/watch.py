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
from typing import Any

HELP = "watch containers with Falco rules: alerts to stdout, files, syslog, webhooks, SQLite"


def configure(parser: argparse.ArgumentParser) -> None:
    from bastion.cli.front.commands.capture import add_live_options
    from bastion.sensor.outputs.factory import add_output_arguments

    parser.add_argument(
        "-r",
        "--rules",
        action="append",
        metavar="FILE",
        help="rules file, repeatable, loaded in order (default: bastion's rules)",
    )
    parser.add_argument("--replay", metavar="FILE", help="a .scap or bastion capture, not live")
    parser.add_argument(
        "-o", "--output", choices=("text", "json"), default=None, help="alert format on stdout"
    )
    parser.add_argument(
        "--rule-matching", choices=("first", "all"), default="first", help="Falco's rule_matching"
    )
    parser.add_argument("--min-priority", default="debug", metavar="P", help="skip rules below P")
    parser.add_argument("-D", "--disable-rule", action="append", default=[], metavar="RULE")
    parser.add_argument("-T", "--disable-tag", action="append", default=[], metavar="TAG")
    parser.add_argument(
        "--kill",
        metavar="PRIORITY",
        help="kill the container process behind an alert of PRIORITY or worse (beyond Falco)",
    )
    add_live_options(parser)
    add_output_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from bastion.sensor.assemble import load_rules
    from bastion.sensor.outputs.factory import build_outputs, options_from_args
    from bastion.sensor.pipeline import Pipeline
    from bastion.sensor.state import SensorState

    state = SensorState(runtime_roots=(args.root,))
    rules = load_rules(
        args.rules,
        state,
        rule_matching=args.rule_matching,
        min_priority=args.min_priority,
        disabled_rules=tuple(args.disable_rule),
        disabled_tags=tuple(args.disable_tag),
    )
    for warning in rules.engine.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    options = options_from_args(args)
    if args.output is not None:
        options = _with_json(options, args.output == "json")
    action = None
    if args.kill:
        from bastion.sensor.actions import KillProcess

        action = KillProcess(args.kill)
    outputs = build_outputs(options)
    pipeline = Pipeline(
        engine=rules.engine, state=state, outputs=[outputs], hostname=state.hostname, action=action
    )
    sys.stderr.write(f"bastion: {len(rules.engine.rules)} rules from {', '.join(rules.files)}\n")
    try:
        if args.replay:
            report = _replay(args, pipeline, state)
        else:
            report = _live(args, pipeline, state, outputs.metrics)
    finally:
        pipeline.close()
    report["alerts"] = pipeline.stats.alerts
    if action is not None:
        report["processes killed"] = action.killed
    from bastion.cli.front.commands.capture import print_statistics

    print_statistics(report)
    return 0


def _with_json(options: Any, json: bool) -> Any:
    import dataclasses

    return dataclasses.replace(options, json=json)


def _replay(args: argparse.Namespace, pipeline: Any, state: Any) -> dict[str, Any]:
    from bastion.sensor.replay import open_replay

    batch: list[Any] = []
    for event in open_replay(args.replay, state):
        batch.append(event)
        if len(batch) >= 1024:
            pipeline.feed(batch)
            batch = []
    pipeline.feed(batch)
    return {"events": pipeline.stats.events}


def _live(args: argparse.Namespace, pipeline: Any, state: Any, metrics: Any) -> dict[str, Any]:
    from bastion.cli.front.commands.capture import (
        Stopper,
        open_probe,
        parse_events,
        resolve_containers,
        running,
        statistics_dict,
    )

    events = parse_events(args.events)
    identities = resolve_containers(args.root, args.container)
    cgroup_ids = [cg for ident in identities for cg in ident.cgroup_ids] if identities else None
    state.seed_from_proc()
    probe = open_probe(args, events, cgroup_ids)
    with Stopper(args.duration) as stop, running(probe):
        sys.stderr.write("bastion: watching (SIGINT or SIGTERM stops)\n")
        sys.stderr.flush()  # a caller waits for this line before starting its workload
        while not stop.done():
            if probe.poll(0.1):
                _feed(probe, pipeline, metrics)
        while _feed(probe, pipeline, metrics):  # what arrived before the stop
            pass
        stats = statistics_dict(probe.statistics())
    return {"events": pipeline.stats.events, **stats}


def _feed(probe: Any, pipeline: Any, metrics: Any) -> int:
    batch = probe.read_events()
    if batch:
        pipeline.feed(batch)
        if metrics is not None:
            metrics.count_events(len(batch))
            stats = probe.statistics()
            metrics.set_drops("ring_full", stats.dropped_ring_full)
    return len(batch)
