"""What outputs `bastion watch` asks for: plain data and the command-line flags that fill it.

Kept apart from `factory` (which imports every output, an HTTP server among them) because the
`bastion` CLI builds every verb's parser on each call: this module is all the parser needs.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.sensor.outputs.alert import Output


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputOptions:
    """Which outputs to build. None / False means "not this one".

    `json` chooses Falco's JSON line over the text line for stdout, file and syslog (Falco's
    ``json_output``); the webhook always sends JSON, as Falco's ``http_output`` does with
    ``json_output``. `time_iso` is Falco's ``time_format_iso_8601``; `json_include_*` are
    Falco's keys of the same names; `buffered` is Falco's ``buffered_outputs`` (stdout and the
    file keep lines in their buffer); `program` is ``program_output``'s command. `hostname`
    overrides the host name alerts carry (`hostname_override`).
    """

    stdout: bool = True
    json: bool = False
    time_iso: bool = False
    json_include_output: bool = True
    json_include_tags: bool = True
    json_include_message: bool = False
    buffered: bool = False
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
    program: str | None = None
    program_keep_alive: bool = False
    extra: tuple[Output, ...] = field(default=())


# Falco reads its host name override from FALCO_HOSTNAME; bastion's own name comes first.
HOSTNAME_VARIABLES = ("BASTION_HOSTNAME", "FALCO_HOSTNAME")


def hostname_override(environ: dict[str, str] | None = None) -> str | None:
    """The host name alerts should carry instead of the machine's, from the environment."""
    import os

    env = os.environ if environ is None else environ
    return next((env[name] for name in HOSTNAME_VARIABLES if env.get(name)), None)


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
    group.add_argument("--program", metavar="CMD", help="pipe each alert to CMD (sh -c)")
    group.add_argument(
        "--program-keep-alive", action="store_true", help="one CMD process for every alert"
    )


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
        program=args.program,
        program_keep_alive=args.program_keep_alive,
    )


def merge_options(configured: OutputOptions, flags: OutputOptions) -> OutputOptions:
    """The configuration file's options with every flag given on the command line on top (a
    flag counts as given when it differs from its default), and the host name override."""
    default = OutputOptions()
    changes = {
        f.name: getattr(flags, f.name)
        for f in dataclasses.fields(OutputOptions)
        if getattr(flags, f.name) != getattr(default, f.name)
    }
    merged = dataclasses.replace(configured, **changes)
    if merged.hostname is None:
        merged = dataclasses.replace(merged, hostname=hostname_override())
    return merged
