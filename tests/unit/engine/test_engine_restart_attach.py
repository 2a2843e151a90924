"""Restart policies (Docker's parse, decision and backoff), the detach-key scanner of `attach`,
and the schema migration that adds the restart count and the "stopped by the user" mark."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

import pytest

from bastion.engine.attach import DetachScanner
from bastion.engine.errors import InvalidOptionError
from bastion.engine.metadata import MIGRATIONS, Metadata
from bastion.engine.restart import RestartPolicy, backoff

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("text", "name", "maximum"),
    [
        ("no", "no", 0),
        ("always", "always", 0),
        ("unless-stopped", "unless-stopped", 0),
        ("on-failure", "on-failure", 0),
        ("on-failure:3", "on-failure", 3),
    ],
)
def test_policies_parse_as_docker(text: str, name: str, maximum: int) -> None:
    policy = RestartPolicy.parse(text)
    assert (policy.name, policy.maximum) == (name, maximum)
    assert policy.document() == {"Name": name, "MaximumRetryCount": maximum}
    assert RestartPolicy.from_config(policy.document()) == policy


@pytest.mark.parametrize("text", ["sometimes", "always:3", "on-failure:x", "on-failure:-1", ""])
def test_bad_policies_are_refused(text: str) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        RestartPolicy.parse(text)
    assert caught.value.reference == "engine-invalid-option"


@pytest.mark.parametrize(
    ("policy", "exit_code", "count", "stopped", "restarts"),
    [
        ("no", 1, 0, False, False),
        ("on-failure", 0, 0, False, False),
        ("on-failure", 1, 0, False, True),
        ("on-failure", 1, 99, False, True),  # no maximum
        ("on-failure:2", 1, 1, False, True),
        ("on-failure:2", 1, 2, False, False),
        ("on-failure:2", 137, 0, True, False),  # stopped by the user
        ("always", 0, 5, False, True),
        ("always", 0, 0, True, False),
        ("unless-stopped", 3, 0, False, True),
        ("unless-stopped", 3, 0, True, False),
    ],
)
def test_restart_decision(
    policy: str, exit_code: int, count: int, stopped: bool, restarts: bool
) -> None:
    assert RestartPolicy.parse(policy).should_restart(exit_code, count, stopped) is restarts


def test_backoff_doubles_and_resets_after_ten_seconds() -> None:
    assert [backoff(n, 0.5) for n in range(4)] == [0.1, 0.2, 0.4, 0.8]
    assert backoff(30, 1.0) == 60.0  # capped
    assert backoff(5, 10.0) == 0.1  # it ran long enough: back to the first delay


def test_detach_keys_are_found_across_reads_and_false_starts_pass_through() -> None:
    scanner = DetachScanner()
    assert scanner.feed(b"ab\x10") == (b"ab", False)  # held: may begin the sequence
    assert scanner.feed(b"x") == (b"\x10x", False)  # it did not: passed on
    assert scanner.feed(b"\x10") == (b"", False)
    assert scanner.feed(b"\x11rest") == (b"", True)
    assert DetachScanner().feed(b"ls\r\x10\x11") == (b"ls\r", True)
    assert DetachScanner().feed(b"\x10\x10\x11") == (b"\x10", True)


def test_migration_adds_restart_columns_to_existing_records(tmp_path: Path) -> None:
    path = str(tmp_path / "m.db")
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, applied REAL)")
    for statement in MIGRATIONS[0]:
        raw.execute(statement)
    raw.execute("INSERT INTO migrations VALUES (1, 0)")
    raw.execute(
        "INSERT INTO containers VALUES ('c1', 'old', 'r/i:t', 'sha256:d', 'sha256:c', 1.0,"
        " 'exited', 0, 0, 0, NULL, NULL, ?)",
        (json.dumps({"args": ["true"]}),),
    )
    raw.close()
    db = Metadata(path)
    record = db.container("c1")
    assert record is not None
    assert (record.name, record.restart_count, record.stopped_by_user) == ("old", 0, False)
    db.update_container("c1", restart_count=2, stopped_by_user=True)
    record = db.container("c1")
    assert record is not None
    assert (record.restart_count, record.stopped_by_user) == (2, True)
