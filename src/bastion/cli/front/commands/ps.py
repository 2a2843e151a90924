"""`bastion ps [-a] [-q] [--format json]`: containers, as Docker's table."""

from __future__ import annotations

import json
import shlex
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from bastion.engine import ContainerRecord

HELP = "list containers"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-a", "--all", action="store_true", help="also the ones not running")
    parser.add_argument("-q", "--quiet", action="store_true", help="only the ids")
    parser.add_argument("--no-trunc", action="store_true", help="full ids and commands")
    parser.add_argument("--format", choices=("table", "json"), default="table")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine
    from bastion.engine.operations import is_paused

    with open_engine(args) as engine:
        records = engine.containers(all=args.all)
        # the record says running; the freezer says whether it is paused (Docker's "(Paused)")
        paused = {r.id for r in records if is_paused(engine.runtime_root, r)}
        alerts = engine.alert_counts()  # the sensor's, in the engine's alert store
        health = engine.health_statuses(records)
    if args.quiet:
        for record in records:
            sys.stdout.write(f"{record.id if args.no_trunc else record.id[:12]}\n")
        return 0
    docs = [_document(r, args.no_trunc, r.id in paused, health.get(r.id)) for r in records]
    for record, doc in zip(records, docs, strict=True):
        doc["Alerts"] = str(alerts.get(record.id[:12], 0))
    if args.format == "json":
        for doc in docs:
            sys.stdout.write(json.dumps(doc) + "\n")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    # Docker's columns, then bastion's: the alerts the sensor raised for the container
    columns = ("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES", "ALERTS")
    for column in columns:
        table.add_column(column, no_wrap=True)
    for doc in docs:
        table.add_row(
            doc["ID"],
            doc["Image"],
            doc["Command"],
            doc["RunningFor"],
            doc["Status"],
            doc["Names"],
            doc["Alerts"],
        )
    Console(width=250 if not sys.stdout.isatty() else None).print(table)
    return 0


def status_text(record: ContainerRecord, health: str | None = None) -> str:
    """Docker's STATUS column: "Up 5 seconds", "Up 1 minute (healthy)", "Exited (3) 2 minutes
    ago", "Created"; `health` is the container's health status when it has a check."""
    from bastion.cli.front.engine_args import human_age

    if record.status == "running":
        up = "Up " + human_age(record.started or record.created).removesuffix(" ago")
        from bastion.engine.health_config import status_suffix

        return up + status_suffix(health)
    if record.status == "exited":
        oom = " (OOMKilled)" if record.oom_killed else ""
        return f"Exited ({record.exit_code}){oom} {human_age(record.finished or time.time())}"
    if record.status == "starting":
        return "Starting"
    if record.status == "restarting":  # its restart policy restarts it after a backoff
        return f"Restarting ({record.exit_code}) {human_age(record.finished or time.time())}"
    return "Created"


def _document(
    record: ContainerRecord, full: bool, paused: bool = False, health: str | None = None
) -> dict[str, str]:
    from bastion.cli.front.engine_args import human_age

    command = " ".join(shlex.join(record.config.get("args", ())).split())  # one line
    if not full and len(command) > 20:
        command = command[:19] + "…"
    return {
        "ID": record.id if full else record.id[:12],
        "Image": record.image,
        "Command": f'"{command}"',
        "RunningFor": human_age(record.created),
        "State": "paused" if paused else record.status,
        "Status": status_text(record, health) + (" (Paused)" if paused else ""),
        "Names": record.name,
    }
