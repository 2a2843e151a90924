"""`bastion alerts`, through the real CLI entry point, on a store in tmp_path."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bastion.cli.front.main import main
from bastion.errors import ExitCode
from bastion.sensor.outputs.alert import PRIORITIES, Alert
from bastion.sensor.outputs.store import AlertStore

S = 1_000_000_000


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "alerts.db"
    now = time.time_ns()
    store = AlertStore(path)
    try:
        store.emit(  # three days ago
            Alert(time_ns=now - 3 * 86400 * S, rule="Old rule", priority="Critical", output="old")
        )
        store.emit(
            Alert(
                time_ns=now - 3600 * S,  # an hour ago
                rule="Write below etc",
                priority="Error",
                output="wrote /etc/shadow",
                output_fields={"fd.name": "/etc/shadow"},
                container_id="0123456789ab",
                container_name="web",
            )
        )
        store.emit(Alert(time_ns=now - 60 * S, rule="Shell", priority="Notice", output="shell ran"))
    finally:
        store.close()
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    code = main(["alerts", *argv])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_lists_all_oldest_first_in_falcos_text(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(capsys, "--db", db)
    assert code == 0
    assert [line.split(": ", 1)[1] for line in lines] == [
        "Critical old",
        "Error wrote /etc/shadow",
        "Notice shell ran",
    ]
    assert lines[0][:4].isdigit() and lines[0][10] == "T"  # ISO-8601 time first


def test_filters_combine(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert len(run(capsys, "--db", db, "--priority", "error")[1]) == 2
    assert len(run(capsys, "--db", db, "--since", "2h")[1]) == 2
    assert len(run(capsys, "--db", db, "--since", "1d", "--priority", "warning")[1]) == 1
    assert run(capsys, "--db", db, "--container", "web")[1][0].endswith("wrote /etc/shadow")
    assert run(capsys, "--db", db, "--rule", "Shell")[1][0].endswith("shell ran")
    assert run(capsys, "--db", db, "-n", "1")[1][0].endswith("shell ran")
    iso_2h_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 7200))
    assert len(run(capsys, "--db", db, "--since", iso_2h_ago)[1]) == 2


def test_json_output_is_falcos_alert_per_line(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(capsys, "--db", db, "-o", "json", "--container", "0123")
    assert code == 0
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert doc["rule"] == "Write below etc"
    assert doc["priority"] == "Error"
    assert doc["output_fields"]["fd.name"] == "/etc/shadow"
    assert doc["output"].endswith(": Error wrote /etc/shadow")


def test_unknown_priority_lists_the_valid_ones(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, err = run(capsys, "--db", db, "--priority", "severe")
    assert code == ExitCode.INVALID_INPUT
    assert lines == []
    assert "unknown-priority" in err
    assert all(p in err for p in PRIORITIES)


@pytest.mark.parametrize("since", ["yesterday", "10x", "2026-13-45"])
def test_bad_since_is_explained(db: str, since: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--db", db, "--since", since)
    assert code == ExitCode.INVALID_INPUT
    assert "error[bad-time]" in err and "--since" in err


def test_bad_limit(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--db", db, "-n", "0")
    assert code == ExitCode.INVALID_INPUT
    assert "--limit" in err


def test_missing_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--db", str(tmp_path / "none.db"))
    assert code == ExitCode.NOT_FOUND
    assert "error[alert-store-missing]" in err
    assert str(tmp_path / "none.db") in err
