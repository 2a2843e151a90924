"""What outputs `bastion watch` asks for: plain data and the command-line flags that fill it.

Kept apart from `factory` (which imports every output, an HTTP server among them) because the
`bastion` CLI builds every verb's parser on each call: this module is all the parser needs.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.sensor.outputs.alert import Output


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputOptions:
    """Which outputs to build. None / False means "not this one".

    `json` chooses Falco's JSON line over the text line for stdout, file and syslog (Falco's
    ``json_output``); the webhook always sends JSON, as Falco's ``http_output`` does with
    ``json_output``. `time_iso` is Falco's ``time_format_iso_8601``.
    """

    stdout: bool = True
    json: bool = False
    time_iso: bool = False
    hostname: str | None = None
    file: str | None = None
    file_keep_alive: bool = False
    syslog: bool = False
    syslog_address: str = "/dev/log"
    syslog_format: str = "rfc3164"
    webhook_url: str | None = None
    webhook_ca_file: str | None = None
    webhook_timeout: float = 5.0
    webhook_retries: int = 2
    webhook_queue: int = 1000
    prometheus_port: int | None = None
    prometheus_host: str = "127.0.0.1"
    sqlite: str | None = None
    extra: tuple[Output, ...] = field(default=())


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """The output flags of `bastion watch` (the command owns its parser; this only adds)."""
    group = parser.add_argument_group("alert outputs")
    group.add_argument("--json", action="store_true", help="Falco's JSON alerts, not text")
    group.add_argument("--time-iso", action="store_true", help="ISO-8601 times (UTC)")
    group.add_argument("--no-stdout", action="store_true", help="do not print alerts")
    group.add_argument("--alerts-file", metavar="PATH", help="append alerts to a file")
    group.add_argument("--syslog", action="store_true", help="send alerts to syslog")
    group.add_argument("--syslog-address", default="/dev/log", metavar="SOCKET")
    group.add_argument("--syslog-format", choices=("rfc3164", "rfc5424"), default="rfc3164")
    group.add_argument("--webhook", metavar="URL", help="POST each alert (JSON) to URL")
    group.add_argument("--webhook-ca-file", metavar="PEM", help="CA to verify the https server")
    group.add_argument("--prometheus-port", type=int, metavar="PORT", help="serve /metrics")
    group.add_argument("--prometheus-host", default="127.0.0.1", metavar="ADDR")
    group.add_argument("--alerts-db", metavar="PATH", help="store alerts in SQLite")


def options_from_args(args: argparse.Namespace) -> OutputOptions:
    """`OutputOptions` from the flags `add_output_arguments` added."""
    return OutputOptions(
        stdout=not args.no_stdout,
        json=args.json,
        time_iso=args.time_iso,
        file=args.alerts_file,
        syslog=args.syslog,
        syslog_address=args.syslog_address,
        syslog_format=args.syslog_format,
        webhook_url=args.webhook,
        webhook_ca_file=args.webhook_ca_file,
        prometheus_port=args.prometheus_port,
        prometheus_host=args.prometheus_host,
        sqlite=args.alerts_db,
    )
