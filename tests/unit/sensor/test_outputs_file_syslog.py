"""The file output (keep-alive vs reopen per alert) and syslog over a real unix socket."""

from __future__ import annotations

import os
import re
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bastion.sensor.outputs.alert import Alert
from bastion.sensor.outputs.errors import OutputConfigError
from bastion.sensor.outputs.file_out import FileOutput
from bastion.sensor.outputs.syslog_out import SyslogOutput
from bastion.sensor.outputs.text import TextFormat


def alert(n: int, priority: str = "Warning") -> Alert:
    return Alert(
        time_ns=1_700_000_000_000_000_000 + n, rule="r", priority=priority, output=f"alert {n}"
    )


def open_fds_to(path: Path) -> int:
    target = str(path)
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                count += 1
        except OSError:
            continue
    return count


# -- file ----------------------------------------------------------------------------------


def test_file_appends_lines_and_closes_after_each_alert(tmp_path: Path) -> None:
    path = tmp_path / "alerts.log"
    path.write_text("earlier line\n")
    out = FileOutput(path, TextFormat(iso=True))
    out.emit(alert(1))
    assert open_fds_to(path) == 0  # keep_alive off: Falco's default
    rotated = tmp_path / "alerts.log.1"
    path.rename(rotated)  # a log rotation needs no signal
    out.emit(alert(2))
    out.close()
    assert rotated.read_text().splitlines()[0] == "earlier line"
    assert rotated.read_text().splitlines()[1].endswith(": Warning alert 1")
    assert path.read_text().splitlines()[0].endswith(": Warning alert 2")
    assert out.statistics().emitted == 2


def test_file_keep_alive_holds_the_file_until_reopen(tmp_path: Path) -> None:
    path = tmp_path / "alerts.log"
    out = FileOutput(path, TextFormat(), keep_alive=True)
    try:
        out.emit(alert(1))
        assert open_fds_to(path) == 1
        rotated = tmp_path / "alerts.log.1"
        path.rename(rotated)
        out.emit(alert(2))  # still the open (now rotated) file
        out.reopen()
        out.emit(alert(3))
    finally:
        out.close()
    assert open_fds_to(path) == 0
    assert [line.rsplit(" ", 1)[1] for line in rotated.read_text().splitlines()] == ["1", "2"]
    assert path.read_text().rstrip().endswith("alert 3")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_file_failure_is_counted_not_raised(tmp_path: Path) -> None:
    out = FileOutput(tmp_path / "missing-dir" / "alerts.log", TextFormat())
    out.emit(alert(1))
    out.emit(alert(2))
    out.close()
    stats = out.statistics()
    assert (stats.emitted, stats.failed) == (0, 2)


# -- syslog --------------------------------------------------------------------------------


@pytest.fixture
def syslog_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "log")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    yield path, sock
    sock.close()


def test_syslog_rfc3164_pri_is_user_facility_and_priority_severity(
    syslog_socket: tuple[str, socket.socket],
) -> None:
    path, sock = syslog_socket
    out = SyslogOutput(TextFormat(iso=True), address=path)
    try:
        out.emit(alert(1, "Critical"))
        out.emit(alert(2, "Debug"))
        first, second = sock.recv(65536).decode(), sock.recv(65536).decode()
    finally:
        out.close()
    pattern = (
        r"<(\d+)>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d bastion\[(\d+)\]: "
        r"2023-11-14T22:13:20\.00000000\d\+0000: (\w+) alert \d"
    )
    m1, m2 = re.fullmatch(pattern, first), re.fullmatch(pattern, second)
    assert m1 is not None, first
    assert m2 is not None, second
    assert (int(m1[1]), m1[3]) == (1 * 8 + 2, "Critical")  # LOG_USER, LOG_CRIT
    assert (int(m2[1]), m2[3]) == (1 * 8 + 7, "Debug")  # LOG_USER, LOG_DEBUG
    assert int(m1[2]) == os.getpid()


def test_syslog_rfc5424_header(syslog_socket: tuple[str, socket.socket]) -> None:
    path, sock = syslog_socket
    out = SyslogOutput(
        TextFormat(), address=path, fmt="rfc5424", facility=4, hostname="bst test", ident="bst"
    )
    try:
        out.emit(alert(1, "Error"))
        data = sock.recv(65536).decode()
    finally:
        out.close()
    m = re.fullmatch(
        r"<35>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z bsttest bst (\d+) - - (.*)", data
    )
    assert m is not None, data  # 35 = LOG_AUTH(4) * 8 + LOG_ERR(3)
    assert m[2].endswith(": Error alert 1")


def test_syslog_counts_failures_and_reconnects(tmp_path: Path) -> None:
    path = str(tmp_path / "log")
    out = SyslogOutput(TextFormat(), address=path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        out.emit(alert(1))  # no daemon yet
        sock.bind(path)
        sock.settimeout(5)
        out.emit(alert(2))
        assert sock.recv(65536).decode().endswith("Warning alert 2")
    finally:
        out.close()
        sock.close()
    stats = out.statistics()
    assert (stats.emitted, stats.failed) == (1, 1)


def test_syslog_rejects_unknown_format() -> None:
    with pytest.raises(OutputConfigError) as info:
        SyslogOutput(TextFormat(), fmt="rfc9999")
    assert info.value.reference == "output-config"


def test_file_full_disk_is_counted() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    out = FileOutput("/dev/full", TextFormat())  # every write fails with ENOSPC
    out.emit(alert(1))
    out.close()
    assert out.statistics().failed == 1
