"""The Prometheus endpoint, scraped over 127.0.0.1."""

from __future__ import annotations

import re
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from bastion.sensor.outputs.alert import Alert
from bastion.sensor.outputs.errors import OutputConfigError
from bastion.sensor.outputs.prometheus import CONTENT_TYPE, Metrics, MetricsServer
from bastion.sensor.outputs.stats import OutputStatistics

_SAMPLE = re.compile(r"([a-z_]+)(\{.*\})? (\d+)")


@pytest.fixture
def served() -> Iterator[tuple[Metrics, MetricsServer]]:
    metrics = Metrics()
    server = MetricsServer(metrics, port=0)
    yield metrics, server
    server.close()


def scrape(server: MetricsServer, path: str = "/metrics") -> tuple[str, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as resp:
        return resp.headers["Content-Type"], resp.read().decode()


def samples(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = _SAMPLE.fullmatch(line)
        assert m is not None, f"not an exposition sample: {line!r}"
        out[m[1] + (m[2] or "")] = int(m[3])
    return out


def alert(rule: str, priority: str) -> Alert:
    return Alert(time_ns=1, rule=rule, priority=priority, output="x")


def test_scrape_reports_events_drops_and_alerts(served: tuple[Metrics, MetricsServer]) -> None:
    metrics, server = served
    metrics.count_events(100)
    metrics.count_events(5, evt_type="openat")
    metrics.set_drops("ringbuf", 7)
    metrics.set_drops("ringbuf", 9)  # absolute, not added
    metrics.count_alert(alert("Write below etc", "Error"))
    metrics.count_alert(alert("Write below etc", "Error"))
    metrics.count_alert(alert('Odd "rule"\\ name', "Warning"))
    metrics.watch_output(lambda: OutputStatistics("webhook", emitted=3, failed=1, dropped=2))
    content_type, text = scrape(server)
    assert content_type == CONTENT_TYPE
    got = samples(text)
    assert got["bastion_events_total"] == 105
    assert got['bastion_events_by_type_total{type="openat"}'] == 5
    assert got['bastion_drops_total{reason="ringbuf"}'] == 9
    assert got['bastion_alerts_total{rule="Write below etc",priority="Error"}'] == 2
    assert got['bastion_alerts_total{rule="Odd \\"rule\\"\\\\ name",priority="Warning"}'] == 1
    assert got['bastion_output_sent_total{output="webhook"}'] == 3
    assert got['bastion_output_failed_total{output="webhook"}'] == 1
    assert got['bastion_output_dropped_total{output="webhook"}'] == 2
    assert "# TYPE bastion_alerts_total counter" in text.splitlines()


def test_scrapes_see_updates(served: tuple[Metrics, MetricsServer]) -> None:
    metrics, server = served
    before = samples(scrape(server)[1])["bastion_events_total"]
    metrics.count_events(3)
    assert samples(scrape(server)[1])["bastion_events_total"] == before + 3


def test_other_paths_are_404(served: tuple[Metrics, MetricsServer]) -> None:
    _, server = served
    with pytest.raises(urllib.error.HTTPError) as info:
        scrape(server, "/")
    assert info.value.code == 404
    info.value.close()


def test_port_in_use_is_a_config_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(OutputConfigError) as info:
            MetricsServer(Metrics(), port=busy.getsockname()[1])
    assert info.value.reference == "output-config"


def test_close_frees_the_port() -> None:
    server = MetricsServer(Metrics(), port=0)
    port = server.port
    server.close()
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
