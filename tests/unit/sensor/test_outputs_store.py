"""The SQLite alert store: round trip, filters, batching, readers beside the writer."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bastion.sensor.outputs.alert import PRIORITIES, Alert
from bastion.sensor.outputs.errors import (
    AlertStoreError,
    AlertStoreMissingError,
    UnknownPriorityError,
)
from bastion.sensor.outputs.store import AlertStore

S = 1_000_000_000


def alert(n: int, **changes: object) -> Alert:
    base: dict[str, object] = {
        "time_ns": 1_700_000_000 * S + n * S,
        "rule": "Write below etc",
        "priority": "Error",
        "output": f"alert {n}",
        "output_fields": {"fd.name": "/etc/x", "proc.pid": n, "container.id": None},
        "tags": ("filesystem", "T1098"),
        "hostname": "bst-test-host",
        "container_id": "0123456789abcdef",
        "container_name": "web",
        "event_num": 1000 + n,
        "action": None,
    }
    base.update(changes)
    return Alert(**base)  # type: ignore[arg-type]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "alerts.db"


def test_round_trip_keeps_every_field(db: Path) -> None:
    original = alert(1, action="kill-process", output_fields={"a": None, "b": [1, "x"], "c": 2.5})
    store = AlertStore(db)
    store.emit(original)
    store.close()
    reader = AlertStore(db, readonly=True)
    try:
        assert reader.query() == [original]
    finally:
        reader.close()


def test_filters(db: Path) -> None:
    store = AlertStore(db)
    try:
        for n, priority in enumerate(PRIORITIES):
            store.emit(alert(n, priority=priority, rule=f"rule {n % 2}"))
        store.emit(alert(10, container_id="fedcba9876543210", container_name="db"))
        store.emit(alert(11, container_id="host", container_name="host"))

        def outputs(**filters: object) -> list[str]:
            return [a.output for a in store.query(**filters)]  # type: ignore[arg-type]

        assert outputs(priority="Error") == [
            "alert 0",
            "alert 1",
            "alert 2",
            "alert 3",
            "alert 10",
            "alert 11",
        ]
        assert outputs(priority="info") == outputs(priority="Informational")
        assert len(outputs(priority="debug")) == 10
        assert outputs(rule="rule 1") == ["alert 1", "alert 3", "alert 5", "alert 7"]
        assert outputs(container="db") == ["alert 10"]
        assert outputs(container="fedcba") == ["alert 10"]
        assert outputs(container="host") == ["alert 11"]
        assert len(outputs(container="0123456789abcdef")) == 8
        assert outputs(since_ns=1_700_000_000 * S + 7 * S) == ["alert 7", "alert 10", "alert 11"]
        assert outputs(limit=2) == ["alert 10", "alert 11"]  # the newest, oldest first
        assert outputs(rule="rule 0", priority="Critical", container="web") == [
            "alert 0",
            "alert 2",
        ]
        with pytest.raises(UnknownPriorityError) as info:
            store.query(priority="severe")
        assert info.value.reference == "unknown-priority"
        assert "Emergency" in (info.value.hint or "")
    finally:
        store.close()


def test_writes_are_batched_and_readers_see_whole_batches(db: Path) -> None:
    store = AlertStore(db, batch_size=3, flush_interval=3600)
    reader = AlertStore(db, readonly=True)
    try:
        store.emit(alert(0))  # the first alert after a quiet spell: committed at once
        assert reader.count() == 1
        store.emit(alert(1))
        store.emit(alert(2))
        assert reader.count() == 1  # pending in the writer
        store.emit(alert(3))  # the batch is full: one commit
        assert reader.count() == 4
        store.emit(alert(4))
        assert reader.count() == 4
        store.flush()
        assert [a.output for a in reader.query(limit=2)] == ["alert 3", "alert 4"]
    finally:
        reader.close()
        store.close()
    assert store.statistics().emitted == 5


def test_a_lone_alert_is_committed_without_another_one(db: Path) -> None:
    """A long-running sensor's only alert reaches readers after `flush_interval`, with no
    later alert and no close to push it out."""
    import time

    store = AlertStore(db, batch_size=64, flush_interval=0.05)
    reader = AlertStore(db, readonly=True)
    try:
        store.emit(alert(0))  # committed at once: the next one waits for the interval
        store.emit(alert(1))
        deadline = time.monotonic() + 30  # generous: the effect is awaited, not timed
        while reader.count() < 2:
            assert time.monotonic() < deadline, "the pending alert was never committed"
            time.sleep(0.01)
        assert [a.output for a in reader.query()] == ["alert 0", "alert 1"]
    finally:
        reader.close()
        store.close()


def test_writer_uses_wal(db: Path) -> None:
    store = AlertStore(db)
    store.close()
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        indexes = {row[1] for row in raw.execute("PRAGMA index_list(alerts)")}
    raw.close()
    assert {"alerts_time", "alerts_rule", "alerts_severity", "alerts_container"} <= indexes


def test_locked_database_keeps_the_batch_for_later(db: Path) -> None:
    store = AlertStore(db, batch_size=1, busy_timeout=0.05)
    blocker = sqlite3.connect(db)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        store.emit(alert(1))
        assert store.statistics().failed == 1
        blocker.rollback()
        store.emit(alert(2))
        assert [a.output for a in store.query()] == ["alert 1", "alert 2"]
    finally:
        blocker.close()
        store.close()


def test_reader_of_missing_store_is_told_so(tmp_path: Path) -> None:
    with pytest.raises(AlertStoreMissingError) as info:
        AlertStore(tmp_path / "nothing.db", readonly=True)
    assert info.value.reference == "alert-store-missing"
    assert info.value.where == str(tmp_path / "nothing.db")
    assert not (tmp_path / "nothing.db").exists()


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE t (x)")
        raw.execute("PRAGMA user_version=42")
    raw.close()
    with pytest.raises(AlertStoreError) as info:
        AlertStore(path, readonly=True)
    assert info.value.reference == "alert-store"
    with pytest.raises(AlertStoreError):
        AlertStore(path)


def test_not_a_database_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(AlertStoreError) as info:
        AlertStore(path, readonly=True)
    assert info.value.where == str(path)
