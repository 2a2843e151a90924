"""`bastion audit [--all] [--pid PID] [CONTAINER...]`: the isolation scorecard of running
containers, read from the live processes (bastion.audit), as text or JSON; exits 1 when a
finding reaches `--fail-on` (default: high), for CI."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from bastion.audit import Report

HELP = "audit how well running containers are isolated"

_FAIL_ON = ("critical", "high", "medium", "low", "info", "none")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-a", "--all", action="store_true", help="every running container")
    parser.add_argument("--pid", type=int, action="append", default=[], help="a process, by pid")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--fail-on",
        choices=_FAIL_ON,
        default="high",
        help="exit 1 when a finding is at least this severe (default: high; none: never)",
    )
    parser.add_argument("containers", nargs="*", metavar="CONTAINER")


def run(args: argparse.Namespace) -> int:
    from bastion.audit import audit
    from bastion.cli.front.engine_args import open_engine
    from bastion.engine.errors import InvalidOptionError

    if not (args.all or args.containers or args.pid):
        raise InvalidOptionError(
            "audit needs a container, --all or --pid", hint="bastion audit CONTAINER"
        )
    reports: list[Report] = []
    if args.all or args.containers:
        with open_engine(args) as engine:
            names = [r.id for r in engine.containers()] if args.all else args.containers
            reports += [engine.audit(name) for name in names]
    reports += [audit(pid) for pid in args.pid]
    if args.format == "json":
        sys.stdout.write(json.dumps([r.as_dict() for r in reports], indent=2) + "\n")
    else:
        sys.stdout.write("\n".join(_text(r) for r in reports))
    if args.fail_on == "none":
        return 0
    return 1 if any(r.at_least(args.fail_on) for r in reports) else 0


def _text(report: Report) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in reversed(report.counts().items()) if n)
    lines = [f"{report.target} (pid {report.pid}): {counts or 'no findings'}"]
    for f in report.findings:
        lines.append(f"  {f.severity.upper():<8} {f.title}: {f.detail}")
        if f.severity != "info":
            lines.append(f"  {'':<8} fix: {f.fix}")
    return "\n".join(lines) + "\n"
