"""`bastion sensor`: the sensor service. It watches every bastion container (`--host`: the host
too) with bastion's default rules or `-r FILE`, stores alerts in the alert store `bastion
alerts` reads (and prints them), and runs until SIGINT/SIGTERM; one per service directory.
`--detach` starts it in the background and returns once it is ready, `--status` and `--stop`
look after a running one. The rest of `bastion watch`'s options apply."""

from __future__ import annotations

import argparse
import sys

HELP = "run the sensor service: watch every bastion container, store the alerts"


def configure(parser: argparse.ArgumentParser) -> None:
    from bastion.cli.front.commands.watch import configure as configure_watch
    from bastion.sensor.service import DEFAULT_SERVICE_DIR

    configure_watch(parser)
    service = parser.add_argument_group("service")
    service.add_argument("--host", action="store_true", help="watch the host's processes too")
    service.add_argument(
        "--service-dir",
        default=DEFAULT_SERVICE_DIR,
        metavar="DIR",
        help=f"where the service keeps its lock, pid and log (default {DEFAULT_SERVICE_DIR})",
    )
    what = service.add_mutually_exclusive_group()
    what.add_argument("--detach", action="store_true", help="run in the background")
    what.add_argument("--status", action="store_true", help="say whether one runs (exit 0/1)")
    what.add_argument("--stop", action="store_true", help="stop the running one")


def run(args: argparse.Namespace) -> int:
    from bastion.sensor import service

    if args.status:
        pid = service.running(args.service_dir)
        ready = service.is_ready(args.service_dir)
        state = "ready" if ready else "starting"
        sys.stdout.write(f"running (pid {pid}, {state})\n" if pid else "not running\n")
        return 0 if pid else 1
    if args.stop:
        pid = service.stop(args.service_dir)
        sys.stdout.write(f"stopped (pid {pid})\n" if pid else "not running\n")
        return 0
    if args.detach:
        argv = [arg for arg in sys.argv if arg != "--detach"]
        pid = service.ensure_running(argv, args.service_dir)
        sys.stdout.write(f"{pid}\n")
        return 0
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    from bastion.cli.front.commands.alerts import DEFAULT_DB
    from bastion.cli.front.commands.watch import _note, _warn, settings_from_args
    from bastion.cli.front.report import write_statistics
    from bastion.sensor.live import statistics
    from bastion.sensor.service import ServiceLock
    from bastion.sensor.session import run_watch

    if args.alerts_db is None:
        args.alerts_db = DEFAULT_DB
    lock = ServiceLock(args.service_dir)
    lock.acquire()
    try:

        def started() -> None:
            lock.ready()
            sys.stderr.write("bastion: the sensor is watching (SIGINT or SIGTERM stops)\n")
            sys.stderr.flush()

        settings = settings_from_args(args, containers_only=not args.host)
        report = run_watch(settings, warn=_warn, note=_note, started=started)
    finally:
        lock.release()
    write_statistics(statistics(report))
    return 0
