"""Falco's text line and JSON alert, character for character."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator

import pytest

from bastion.sensor.outputs.alert import Alert, priority_rank
from bastion.sensor.outputs.json_out import JsonFormat, alert_document
from bastion.sensor.outputs.text import StreamOutput, TextFormat, falco_time, text_line

# 2023-11-14T22:13:20.000000042Z: a nanosecond part with leading zeros, as Falco prints them.
T_NS = 1_700_000_000_000_000_042


@pytest.fixture
def tz(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run in India's zone (+05:30, no DST), so local time visibly differs from UTC."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def make_alert(**changes: object) -> Alert:
    base: dict[str, object] = {
        "time_ns": T_NS,
        "rule": "Terminal shell in container",
        "priority": "Notice",
        "output": "A shell was spawned (user=root shell=bash)",
        "output_fields": {"user.name": "root", "proc.name": "bash", "proc.pid": 4242},
        "tags": ("shell", "container", "T1059"),
        "hostname": "bst-test-host",
        "container_id": "0123456789ab",
        "container_name": "web",
    }
    base.update(changes)
    return Alert(**base)  # type: ignore[arg-type]


def test_evt_time_is_local_time_of_day_with_nanoseconds(tz: None) -> None:
    assert falco_time(T_NS) == "03:43:20.000000042"


def test_evt_time_iso8601_is_utc_with_strftime_offset(tz: None) -> None:
    assert falco_time(T_NS, iso=True) == "2023-11-14T22:13:20.000000042+0000"


def test_text_line_is_time_priority_output(tz: None) -> None:
    alert = make_alert()
    assert (
        text_line(alert) == "03:43:20.000000042: Notice A shell was spawned (user=root shell=bash)"
    )
    assert TextFormat(iso=True)(alert) == (
        "2023-11-14T22:13:20.000000042+0000: Notice A shell was spawned (user=root shell=bash)"
    )


def test_json_line_is_falcos_shape_exactly(tz: None) -> None:
    line = JsonFormat(hostname="ignored-alert-has-one")(make_alert())
    assert line == (
        '{"hostname":"bst-test-host",'
        '"output":"03:43:20.000000042: Notice A shell was spawned (user=root shell=bash)",'
        '"output_fields":{"evt.time":1700000000000000042,"proc.name":"bash","proc.pid":4242,'
        '"user.name":"root"},'
        '"priority":"Notice","rule":"Terminal shell in container","source":"syscall",'
        '"tags":["T1059","container","shell"],"time":"2023-11-14T22:13:20.000000042Z"}'
    )


def test_json_iso_mode_uses_iso_prefix_and_field(tz: None) -> None:
    doc = json.loads(JsonFormat(iso=True)(make_alert()))
    assert doc["output"].startswith("2023-11-14T22:13:20.000000042+0000: Notice ")
    assert doc["output_fields"]["evt.time.iso8601"] == T_NS
    assert "evt.time" not in doc["output_fields"]
    assert doc["time"] == "2023-11-14T22:13:20.000000042Z"


def test_json_values_are_typed_and_na_is_null() -> None:
    fields: dict[str, object] = {
        "fd.name": None,
        "proc.args": ("-c", "id"),
        "evt.buffer": b"\xffab",
        "fd.rport": 443,
        "evt.is_open_write": True,
        "evt.ratio": float("nan"),
        "fd.name.path": "/tmp/\udcff",
    }
    line = JsonFormat()(make_alert(output_fields=fields, output="o\u00e9"))
    doc = json.loads(line)
    assert doc["output_fields"]["fd.name"] is None
    assert doc["output_fields"]["proc.args"] == ["-c", "id"]
    assert doc["output_fields"]["evt.buffer"] == "\ufffdab"
    assert doc["output_fields"]["fd.rport"] == 443
    assert doc["output_fields"]["evt.is_open_write"] is True
    assert doc["output_fields"]["evt.ratio"] is None
    assert doc["output_fields"]["fd.name.path"] == "/tmp/\ufffd"
    assert "o\u00e9" in line  # UTF-8 kept, not \\u-escaped, as nlohmann writes it
    line.encode("utf-8")  # and the line is valid UTF-8


def test_json_include_switches() -> None:
    doc = alert_document(
        make_alert(),
        include_output=False,
        include_tags=False,
        include_message=True,
        include_output_fields=False,
    )
    assert sorted(doc) == ["hostname", "message", "priority", "rule", "source", "time"]
    assert doc["message"] == "A shell was spawned (user=root shell=bash)"


def test_stream_output_writes_and_flushes_one_line_per_alert() -> None:
    stream = io.StringIO()
    out = StreamOutput(stream, TextFormat(iso=True))
    out.emit(make_alert())
    out.emit(make_alert(priority="Critical"))
    lines = stream.getvalue().splitlines()
    assert [line.split(" ")[1] for line in lines] == ["Notice", "Critical"]
    stream.close()
    out.emit(make_alert())  # a closed stream is counted, not raised
    stats = out.statistics()
    assert (stats.emitted, stats.failed) == (2, 1)


@pytest.mark.parametrize(
    ("name", "rank"),
    [("Emergency", 0), ("warning", 4), ("INFO", 6), ("Informational", 6), ("debug", 7)],
)
def test_priority_rank_follows_falco(name: str, rank: int) -> None:
    assert priority_rank(name) == rank


def test_priority_rank_unknown_is_none() -> None:
    assert priority_rank("severe") is None
