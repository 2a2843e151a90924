"""Build the outputs `bastion watch` asked for, as one fan-out `Outputs`.

`OutputOptions` (outputs/options.py, light enough for the CLI's parser) says what to build;
`build_outputs` makes each output in turn and,
if one cannot be made (a port in use, a bad URL), closes those already made before re-raising,
so a failed start leaves no thread or socket behind.
"""

from __future__ import annotations

import logging
import socket
import sys
from typing import TextIO

from bastion.sensor.outputs.alert import Alert, Output
from bastion.sensor.outputs.errors import OutputConfigError
from bastion.sensor.outputs.file_out import FileOutput
from bastion.sensor.outputs.json_out import JsonFormat
from bastion.sensor.outputs.options import OutputOptions
from bastion.sensor.outputs.program_out import ProgramOutput
from bastion.sensor.outputs.prometheus import Metrics, MetricsServer
from bastion.sensor.outputs.stats import OutputStatistics
from bastion.sensor.outputs.store import AlertStore
from bastion.sensor.outputs.syslog_out import SyslogOutput
from bastion.sensor.outputs.text import Render, StreamOutput, TextFormat
from bastion.sensor.outputs.webhook import WebhookOutput

_log = logging.getLogger(__name__)


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
    json_render = JsonFormat(
        iso=options.time_iso,
        hostname=hostname,
        include_output=options.json_include_output,
        include_tags=options.json_include_tags,
        include_message=options.json_include_message,
    )
    render: Render = json_render if options.json else TextFormat(iso=options.time_iso)
    made: list[Output] = []
    server: MetricsServer | None = None
    metrics = Metrics()
    try:
        if options.stdout:
            made.append(StreamOutput(stdout or sys.stdout, render, buffered=options.buffered))
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
                    render=json_render,
                    timeout=options.webhook_timeout,
                    retries=options.webhook_retries,
                    queue_size=options.webhook_queue,
                    ca_file=options.webhook_ca_file,
                )
            )
        if options.program is not None:
            made.append(
                ProgramOutput(options.program, render, keep_alive=options.program_keep_alive)
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
