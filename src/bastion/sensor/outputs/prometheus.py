"""Sensor metrics in Prometheus' text exposition format, served over HTTP from a thread.

`Metrics` is what the pipeline updates (cheap: one lock, a few dict updates); `MetricsServer`
serves `Metrics.render()` at ``/metrics`` with `http.server`. Metric names follow Prometheus'
conventions (``_total`` for counters, labels for the breakdown): ``bastion_events_total``,
``bastion_events_by_type_total{type}``, ``bastion_drops_total{reason}``,
``bastion_alerts_total{rule,priority}``.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterable

from bastion.sensor.outputs.alert import Alert
from bastion.sensor.outputs.errors import OutputConfigError
from bastion.sensor.outputs.stats import OutputStatistics

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape_label(value: str) -> str:
    """A label value as the exposition format quotes it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in pairs) + "}"


class Metrics:
    """Counters of the sensor pipeline. Thread-safe: the pipeline updates, the server reads.

    `count_alert` counts every alert once; the `Outputs` fan-out calls it, so the pipeline does
    not have to. `set_drops` takes the absolute count a drop counter reports (the kernel ring
    buffer's counters are absolute), not an increment.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events = 0
        self._by_type: dict[str, int] = {}
        self._drops: dict[str, int] = {}
        self._alerts: dict[tuple[str, str], int] = {}
        self._outputs: list[Callable[[], OutputStatistics]] = []

    def count_events(self, n: int = 1, *, evt_type: str | None = None) -> None:
        with self._lock:
            self._events += n
            if evt_type is not None:
                self._by_type[evt_type] = self._by_type.get(evt_type, 0) + n

    def set_drops(self, reason: str, n: int) -> None:
        with self._lock:
            self._drops[reason] = n

    def count_alert(self, alert: Alert) -> None:
        key = (alert.rule, alert.priority)
        with self._lock:
            self._alerts[key] = self._alerts.get(key, 0) + 1

    def watch_output(self, statistics: Callable[[], OutputStatistics]) -> None:
        """Export an output's counters as ``bastion_output_{sent,failed,dropped}_total``."""
        with self._lock:
            self._outputs.append(statistics)

    @property
    def events(self) -> int:
        with self._lock:
            return self._events

    def alerts(self) -> dict[tuple[str, str], int]:
        """Alerts counted so far, by (rule, priority)."""
        with self._lock:
            return dict(self._alerts)

    def render(self) -> str:
        """The whole exposition text (ends with a newline)."""
        with self._lock:
            events = self._events
            by_type = sorted(self._by_type.items())
            drops = sorted(self._drops.items())
            alerts = sorted(self._alerts.items())
            outputs = list(self._outputs)
        out: list[str] = []

        def family(name: str, help_text: str) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} counter")

        family("bastion_events_total", "Events the sensor received.")
        out.append(f"bastion_events_total {events}")
        family("bastion_events_by_type_total", "Events received, by event type.")
        out.extend(f"bastion_events_by_type_total{_labels([('type', t)])} {n}" for t, n in by_type)
        family("bastion_drops_total", "Events lost before the rules saw them, by reason.")
        out.extend(f"bastion_drops_total{_labels([('reason', r)])} {n}" for r, n in drops)
        family("bastion_alerts_total", "Alerts raised, by rule and priority.")
        out.extend(
            f"bastion_alerts_total{_labels([('rule', r), ('priority', p)])} {n}"
            for (r, p), n in alerts
        )
        stats = [get() for get in outputs]
        for field, help_text in (
            ("sent", "Alerts an output delivered."),
            ("failed", "Alerts an output failed to deliver."),
            ("dropped", "Alerts an output dropped (queue full)."),
        ):
            name = f"bastion_output_{field}_total"
            family(name, help_text)
            key = "emitted" if field == "sent" else field
            out.extend(f"{name}{_labels([('output', s.name)])} {getattr(s, key)}" for s in stats)
        return "\n".join(out) + "\n"


class MetricsServer:
    """Serves `metrics` at ``http://host:port/metrics`` from a daemon thread until `close`.

    `port` 0 picks a free port (read it back from `.port`); 8765 is Falco's webserver port.
    The default host is loopback: the metrics name rules and containers, so exposing them
    wider is a deliberate choice.
    """

    def __init__(self, metrics: Metrics, *, host: str = "127.0.0.1", port: int = 8765) -> None:
        handler = _handler_for(metrics)
        try:
            self._server = http.server.ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise OutputConfigError(
                f"cannot serve Prometheus metrics on {host}:{port}: {exc.strerror or exc}",
                hint="choose another port (--prometheus-port) or stop what listens there",
            ) from exc
        self._server.daemon_threads = True
        self.host = host
        self.port: int = self._server.server_address[1]
        # A short poll interval: `close` (shutdown) waits up to one interval.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="bastion-metrics",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _handler_for(metrics: Metrics) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "bastion"

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404, "try /metrics")
                return
            body = metrics.render().encode("utf-8", "surrogateescape")
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            del format, args  # a scrape every 15 s is not worth a log line

    return Handler
