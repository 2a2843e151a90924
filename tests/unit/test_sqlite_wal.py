"""`enter_wal`: a new database goes into WAL mode though another connection is writing to it.

The lock the switch needs is refused at once, without the busy handler, while another connection
holds a write lock (SQLite's deadlock rule): these tests hold one, as a racing `bastion pull` does,
and the switch must wait for it instead of failing.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import TYPE_CHECKING, Any

import pytest

from bastion.engine.errors import EngineError
from bastion.engine.metadata import MIGRATIONS, Metadata
from bastion.sensor.outputs.store import AlertStore
from bastion.sqlite_wal import enter_wal

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def writing(tmp_path: Path) -> Iterator[tuple[Path, threading.Event]]:
    """A rollback-journal database with a write transaction open until the event is set."""
    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE other (x)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO other VALUES (1)")
    release = threading.Event()

    def commit_when_released() -> None:
        release.wait()
        holder.execute("COMMIT")

    committer = threading.Thread(target=commit_when_released)
    committer.start()
    yield path, release
    release.set()
    committer.join()
    holder.close()


def release_soon(release: threading.Event) -> None:
    threading.Timer(0.2, release.set).start()


def journal_mode(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return str(db.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        db.close()


def test_the_switch_waits_for_the_writer(writing: tuple[Path, threading.Event]) -> None:
    path, release = writing
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    release_soon(release)
    enter_wal(db, timeout=30)
    db.close()
    assert journal_mode(path) == "wal"


def test_a_writer_that_stays_past_the_timeout_is_an_error(
    writing: tuple[Path, threading.Event],
) -> None:
    path, _ = writing
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        enter_wal(db, timeout=0.05)
    db.close()
    assert journal_mode(path) == "delete"


class CountingConnection(sqlite3.Connection):
    """Counts the statements run through it: a retried error runs its statement again."""

    statements = 0

    def execute(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:
        self.statements += 1
        return super().execute(*args, **kwargs)


def test_other_errors_are_not_retried(tmp_path: Path) -> None:
    (tmp_path / "junk.db").write_bytes(b"not a database" * 100)
    db = sqlite3.connect(tmp_path / "junk.db", isolation_level=None, factory=CountingConnection)
    with pytest.raises(sqlite3.DatabaseError, match="not a database"):
        enter_wal(db, timeout=30)
    assert db.statements == 1
    db.close()


def test_the_engine_metadata_opens_beside_a_writer(writing: tuple[Path, threading.Event]) -> None:
    path, release = writing
    release_soon(release)
    metadata = Metadata(str(path))
    assert metadata.version == len(MIGRATIONS)
    metadata.close()
    assert journal_mode(path) == "wal"


def test_the_engine_metadata_error_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "junk.db").write_bytes(b"not a database" * 100)
    with pytest.raises(EngineError, match="cannot open the metadata") as caught:
        Metadata(str(tmp_path / "junk.db"))
    assert caught.value.where == str(tmp_path / "junk.db")


def test_the_alert_store_opens_beside_a_writer(writing: tuple[Path, threading.Event]) -> None:
    path, release = writing
    release_soon(release)
    store = AlertStore(path)
    store.close()
    assert journal_mode(path) == "wal"
