"""`bastion alerts`: list the alerts the sensor stored, newest last, with filters."""

from __future__ import annotations

import argparse
import sys

HELP = "list stored alerts (filter by rule, priority, container, time)"

DEFAULT_DB = "/var/lib/bastion/alerts.db"  # bastion.sensor.outputs.store.DEFAULT_PATH


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rule", help="only alerts of this rule (exact name)")
    parser.add_argument(
        "--priority", help="only alerts at least this severe (Emergency ... Debug, Falco's order)"
    )
    parser.add_argument("--container", help="only alerts of this container (id, id prefix, name)")
    parser.add_argument(
        "--since", help="only alerts since a duration ago (10m, 2h, 1d12h) or an ISO-8601 time"
    )
    parser.add_argument("--db", default=DEFAULT_DB, metavar="PATH", help="the alert store")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")
    parser.add_argument(
        "-n", "--limit", type=int, default=100, help="show the newest N alerts (default 100)"
    )


def run(args: argparse.Namespace) -> int:
    import time

    from bastion.sensor.outputs.errors import OutputConfigError, UnknownPriorityError
    from bastion.sensor.outputs.json_out import JsonFormat
    from bastion.sensor.outputs.store import AlertStore
    from bastion.sensor.outputs.text import TextFormat
    from bastion.sensor.outputs.timespec import parse_since

    if args.limit < 1:
        raise OutputConfigError(
            f"--limit must be a positive number, not {args.limit}", where="--limit"
        )
    if args.priority is not None:
        from bastion.sensor.outputs.alert import priority_rank

        if priority_rank(args.priority) is None:
            raise UnknownPriorityError(args.priority, where="--priority")
    since_ns = None if args.since is None else parse_since(args.since, now_ns=time.time_ns())
    store = AlertStore(args.db, readonly=True)
    try:
        alerts = store.query(
            rule=args.rule,
            priority=args.priority,
            container=args.container,
            since_ns=since_ns,
            limit=args.limit,
        )
    finally:
        store.close()
    # Text uses Falco's ISO-8601 time: a listing spans days, a time of day alone would not do.
    render = JsonFormat(iso=True) if args.output == "json" else TextFormat(iso=True)
    out = sys.stdout
    for alert in alerts:
        out.write(render(alert) + "\n")
    out.flush()
    return 0
