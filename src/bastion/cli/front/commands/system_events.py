"""`bastion system events [--since T] [--until T] [--filter K=V] [--format json]`: the engine's
event log (engine/events_log.py) as `docker events` (and `docker system events`) prints it;
`system.py` adds it to the `system` verb's sub-commands. (`bastion events` is the sensor's:
the probe's system calls.)"""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    events = sub.add_parser(
        "events", help="show what the engine did (containers, images, networks, volumes)"
    )
    events.add_argument(
        "--since", help="replay the events from this time (RFC 3339, Unix seconds or 10m)"
    )
    events.add_argument("--until", help="stop at this time (without it: follow)")
    events.add_argument(
        "-f",
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="type, event, container, image, network, volume or label (repeat: or within "
        "a key, and across keys)",
    )
    events.add_argument("--format", choices=("text", "json"), default="text")
    events.set_defaults(func=run_events)


def run_events(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine
    from bastion.engine.events_log import parse_filters, select
    from bastion.engine.operations import parse_time

    filters = parse_filters(args.filter)
    since = None if args.since is None else parse_time(args.since)
    until = None if args.until is None else parse_time(args.until)
    with open_engine(args) as engine:
        log = engine.event_log
    out = sys.stdout
    try:
        for event in select(log, since=since, until=until, filters=filters):
            out.write(_json(event) if args.format == "json" else _text(event))
            out.flush()
    except KeyboardInterrupt:
        pass
    return 0


def _json(event: dict[str, Any]) -> str:
    from bastion import jsonio

    return jsonio.dumps(event) + "\n"


def _text(event: dict[str, Any]) -> str:
    """docker's line: local time with nanoseconds, type, action, actor, (attributes sorted)."""
    import datetime

    nanos = int(event.get("timeNano", 0))
    moment = datetime.datetime.fromtimestamp(nanos // 10**9).astimezone()
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos % 10**9:09d}" + moment.strftime("%z")
    stamp = stamp[:-2] + ":" + stamp[-2:]
    actor = event.get("Actor", {})
    attributes = actor.get("Attributes") or {}
    line = f"{stamp} {event.get('Type')} {event.get('Action')} {actor.get('ID')}"
    if attributes:
        line += " (" + ", ".join(f"{k}={v}" for k, v in sorted(attributes.items())) + ")"
    return line + "\n"
