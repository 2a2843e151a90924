"""Build the outputs `bastion watch` asked for, as one fan-out `Outputs`.

`OutputOptions` is plain data (the `watch` command fills it from its flags, with
`add_output_arguments` and `options_from_args`); `build_outputs` makes each output in turn and,
if one cannot be made (a port in use, a bad URL), closes those already made before re-raising,
so a failed start leaves no thread or socket behind.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from dataclasses import dataclass, field
from typing import TextIO

from bastion.sensor.outputs.alert import Alert, Output
from bastion.sensor.outputs.errors import OutputConfigError
from bastion.sensor.outputs.file_out import FileOutput
from bastion.sensor.outputs.json_out import JsonFormat
from bastion.sensor.outputs.prometheus import Metrics, MetricsServer
from bastion.sensor.outputs.stats import OutputStatistics
from bastion.sensor.outputs.store import AlertStore
from bastion.sensor.outputs.syslog_out import SyslogOutput
from bastion.sensor.outputs.text import Render, StreamOutput, TextFormat
from bastion.sensor.outputs.webhook import WebhookOutput

_log = logging.getLogger(__name__)


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


class Outputs:
    """Every output as one `Output`: `emit` counts the alert in `metrics`, then gives it to
    each output in turn. One output failing (even with a bug) never stops the others."""

    def __init__(
        self,
        outputs: list[Output],
        metrics: Metrics,
        server: MetricsServer | None = None,
    ) -> None:
        self.outputs = outputs
        self.metrics = metrics
        self.server = server
        self._broken: set[int] = set()

    def emit(self, alert: Alert) -> None:
        self.metrics.count_alert(alert)
        for index, output in enumerate(self.outputs):
            try:
                output.emit(alert)
            except Exception:
                if index not in self._broken:  # say it once per output
                    self._broken.add(index)
                    _log.exception("output %r failed on an alert", output)

    def close(self) -> None:
        """Close every output (the webhook flushes within its timeout), then the server."""
        for output in self.outputs:
            try:
                output.close()
            except Exception:
                _log.exception("output %r failed to close", output)
        if self.server is not None:
            self.server.close()

    def statistics(self) -> list[OutputStatistics]:
        """Each output's counters (for outputs that keep them)."""
        return [s() for s in (getattr(o, "statistics", None) for o in self.outputs) if s]


def build_outputs(options: OutputOptions, *, stdout: TextIO | None = None) -> Outputs:
    """The outputs `options` names; `stdout` defaults to `sys.stdout`."""
    hostname = options.hostname or socket.gethostname()
    render: Render = (
        JsonFormat(iso=options.time_iso, hostname=hostname)
        if options.json
        else TextFormat(iso=options.time_iso)
    )
    made: list[Output] = []
    server: MetricsServer | None = None
    metrics = Metrics()
    try:
        if options.stdout:
            made.append(StreamOutput(stdout or sys.stdout, render))
        if options.file is not None:
            made.append(FileOutput(options.file, render, keep_alive=options.file_keep_alive))
        if options.syslog:
            made.append(
                SyslogOutput(
                    render,
                    address=options.syslog_address,
                    fmt=options.syslog_format,
                    hostname=hostname,
                )
            )
        if options.webhook_url is not None:
            made.append(
                WebhookOutput(
                    options.webhook_url,
                    render=JsonFormat(iso=options.time_iso, hostname=hostname),
                    timeout=options.webhook_timeout,
                    retries=options.webhook_retries,
                    queue_size=options.webhook_queue,
                    ca_file=options.webhook_ca_file,
                )
            )
        if options.sqlite is not None:
            made.append(AlertStore(options.sqlite))
        made.extend(options.extra)
        for output in made:
            stats = getattr(output, "statistics", None)
            if stats is not None:
                metrics.watch_output(stats)
        if options.prometheus_port is not None:
            if not 0 <= options.prometheus_port <= 65535:
                raise OutputConfigError(
                    f"Prometheus port {options.prometheus_port} out of range", hint="use 1..65535"
                )
            server = MetricsServer(
                metrics, host=options.prometheus_host, port=options.prometheus_port
            )
    except BaseException as exc:
        for output in made:
            try:
                output.close()
            except Exception as cleanup:  # keep the first error; say what cleanup failed
                exc.add_note(f"while closing {output!r}: {cleanup}")
        raise
    return Outputs(made, metrics, server)


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
