"""`build_outputs`: every output from options, fan-out, and no leftovers when one fails."""

from __future__ import annotations

import io
import json
import socket
import threading
import urllib.request
from pathlib import Path

import pytest

from bastion.sensor.outputs.alert import Alert
from bastion.sensor.outputs.errors import OutputConfigError
from bastion.sensor.outputs.factory import build_outputs
from bastion.sensor.outputs.options import OutputOptions
from bastion.sensor.outputs.store import AlertStore


def alert(n: int) -> Alert:
    return Alert(time_ns=1_700_000_000_000_000_000 + n, rule="R", priority="Alert", output=f"a{n}")


class Exploding:
    """An output with a bug: it must not stop the others."""

    closed = False

    def emit(self, alert: Alert) -> None:
        raise RuntimeError("bug")

    def close(self) -> None:
        self.closed = True


def test_all_outputs_receive_each_alert(tmp_path: Path) -> None:
    stream = io.StringIO()
    syslog = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    syslog.bind(str(tmp_path / "log"))
    syslog.settimeout(5)
    broken = Exploding()
    options = OutputOptions(
        json=True,
        file=str(tmp_path / "alerts.jsonl"),
        syslog=True,
        syslog_address=str(tmp_path / "log"),
        prometheus_port=0,
        sqlite=str(tmp_path / "alerts.db"),
        hostname="bst-test-host",
        extra=(broken,),
    )
    outputs = build_outputs(options, stdout=stream)
    try:
        assert outputs.server is not None
        outputs.metrics.count_events(10)
        outputs.emit(alert(1))
        outputs.emit(alert(2))
        url = f"http://127.0.0.1:{outputs.server.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            scraped = resp.read().decode()
        datagram = syslog.recv(65536).decode()
    finally:
        outputs.close()
        syslog.close()
    assert broken.closed
    stdout_docs = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [d["output"].split(": ", 1)[1] for d in stdout_docs] == ["Alert a1", "Alert a2"]
    assert stdout_docs[0]["hostname"] == "bst-test-host"
    file_lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(line)["rule"] for line in file_lines] == ["R", "R"]
    assert datagram.startswith("<9>")  # LOG_USER * 8 + LOG_ALERT
    assert '"rule":"R"' in datagram
    assert 'bastion_alerts_total{rule="R",priority="Alert"} 2' in scraped.splitlines()
    assert "bastion_events_total 10" in scraped.splitlines()
    store = AlertStore(tmp_path / "alerts.db", readonly=True)
    try:
        assert [a.output for a in store.query()] == ["a1", "a2"]
    finally:
        store.close()
    names = {s.name for s in outputs.statistics()}
    assert "stdout" in names
    assert any(n.startswith("sqlite ") for n in names)


def test_failed_build_closes_what_was_made(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        options = OutputOptions(
            stdout=False,
            webhook_url="http://127.0.0.1:9/",
            sqlite=str(tmp_path / "alerts.db"),
            prometheus_port=busy.getsockname()[1],
        )
        with pytest.raises(OutputConfigError):
            build_outputs(options)
    alive = [t for t in threading.enumerate() if t.name in ("bastion-webhook", "bastion-metrics")]
    assert alive == []


def test_bad_prometheus_port_is_refused() -> None:
    with pytest.raises(OutputConfigError):
        build_outputs(OutputOptions(stdout=False, prometheus_port=70000))


def test_watch_flags_map_to_options() -> None:
    import argparse

    from bastion.sensor.outputs.options import add_output_arguments, options_from_args

    parser = argparse.ArgumentParser()
    add_output_arguments(parser)
    args = parser.parse_args(
        ["--json", "--no-stdout", "--webhook", "https://x/", "--prometheus-port", "9100"]
    )
    options = options_from_args(args)
    assert (options.json, options.stdout, options.webhook_url) == (True, False, "https://x/")
    assert (options.prometheus_port, options.sqlite, options.syslog) == (9100, None, False)
    assert options_from_args(parser.parse_args([])) == OutputOptions()
