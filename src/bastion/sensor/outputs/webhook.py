"""Alerts POSTed to an HTTP(S) endpoint as Falco's JSON body (Falco's ``http_output``).

The event loop must never wait on a receiver: `emit` only puts the alert on a bounded queue,
and one background thread renders and POSTs it. A full queue drops the alert and counts it
(Falco's outputs queue does the same when ``outputs_queue.capacity`` is reached). Each POST is
retried a bounded number of times, with exponential backoff, for a connection failure, a 5xx
or a 429; any other non-2xx status is final. The connection is kept alive between alerts.
"""

from __future__ import annotations

import http.client
import queue
import ssl
import threading
import urllib.parse

from bastion.sensor.outputs.alert import Alert
from bastion.sensor.outputs.errors import OutputConfigError
from bastion.sensor.outputs.json_out import JsonFormat
from bastion.sensor.outputs.stats import Counters, OutputStatistics
from bastion.sensor.outputs.text import Render

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class WebhookOutput:
    """POSTs each alert to `url` from a background thread.

    `timeout` bounds each connect and each response read (seconds); `retries` is the number of
    extra attempts after the first; `queue_size` bounds the alerts waiting. For https the
    server certificate is verified against the system store, or against `ca_file` when given.
    """

    def __init__(
        self,
        url: str,
        *,
        render: Render | None = None,
        content_type: str = "application/json",
        timeout: float = 5.0,
        retries: int = 2,
        backoff: float = 0.2,
        queue_size: int = 1000,
        ca_file: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OutputConfigError(
                f"webhook URL {url!r} is not an http(s) URL with a host",
                hint="give a URL such as https://alerts.example:8443/falco",
            )
        if retries < 0 or queue_size < 1 or timeout <= 0:
            raise OutputConfigError(
                "webhook retries must be >= 0, queue size >= 1 and timeout > 0",
                where=url,
            )
        self.url = url
        self._host = parts.hostname
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._https = parts.scheme == "https"
        self._ssl: ssl.SSLContext | None = None
        if self._https:
            try:
                self._ssl = ssl.create_default_context(cafile=ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise OutputConfigError(
                    f"cannot load CA file: {exc}", where=ca_file, hint="give a PEM file"
                ) from exc
        elif ca_file is not None:
            raise OutputConfigError("a CA file only applies to an https URL", where=url)
        self._render: Render = render or JsonFormat()
        self._headers = {"Content-Type": content_type, "User-Agent": "bastion"}
        self._headers.update(headers or {})
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._queue: queue.Queue[Alert] = queue.Queue(maxsize=queue_size)
        self._conn: http.client.HTTPConnection | None = None
        self._closing = threading.Event()
        self._abort = threading.Event()
        self._counters = Counters(f"webhook {url}")
        self._thread = threading.Thread(target=self._run, name="bastion-webhook", daemon=True)
        self._thread.start()

    def emit(self, alert: Alert) -> None:
        """Queue `alert`; never blocks. A full queue (or a closed output) drops it."""
        if self._closing.is_set():
            self._counters.drop()
            return
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self._counters.drop()

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued, waiting at most `timeout` (default: this output's per-request
        timeout); then stop trying, count what is left as dropped, and end the thread."""
        self._closing.set()
        self._thread.join(self._timeout if timeout is None else timeout)
        if self._thread.is_alive():
            self._abort.set()
            self._thread.join(self._timeout + 1.0)

    def statistics(self) -> OutputStatistics:
        return self._counters.snapshot()

    @property
    def pending(self) -> int:
        """Alerts queued and not yet sent."""
        return self._queue.qsize()

    def _run(self) -> None:
        try:
            while not self._abort.is_set():
                try:
                    alert = self._queue.get(timeout=0.05)
                except queue.Empty:
                    if self._closing.is_set():
                        return
                    continue
                self._deliver(alert)
            while True:  # aborted: what is still queued will not be sent
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    return
                self._counters.drop()
        finally:
            self._disconnect()

    def _deliver(self, alert: Alert) -> None:
        try:
            body = self._render(alert).encode("utf-8", "surrogateescape")
        except Exception as exc:  # a bug in a render must not kill the sender thread
            self._counters.fail(exc)
            return
        why: object = None
        for attempt in range(self._retries + 1):
            if attempt and self._abort.wait(self._backoff * 2 ** (attempt - 1)):
                break
            try:
                status = self._post(body)
            except (OSError, http.client.HTTPException) as exc:
                self._disconnect()
                why = exc
                continue
            if 200 <= status < 300:
                self._counters.ok()
                return
            why = f"HTTP status {status}"
            if status not in _RETRY_STATUS:
                break
        self._counters.fail(why)

    def _post(self, body: bytes) -> int:
        if self._conn is None:
            if self._https:
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout, context=self._ssl
                )
            else:
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self._timeout
                )
        self._conn.request("POST", self._path, body=body, headers=self._headers)
        response = self._conn.getresponse()
        response.read()
        if response.will_close:
            self._disconnect()
        return response.status

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
