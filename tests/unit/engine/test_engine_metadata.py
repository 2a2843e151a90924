"""The engine's SQLite metadata: WAL, versioned schema, transactions, unique names."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest

from bastion.engine.errors import EngineError, NameInUseError
from bastion.engine.metadata import MIGRATIONS, ContainerRecord, ImageRecord, Metadata
from bastion_testing.records import container_record

if TYPE_CHECKING:
    from pathlib import Path


def container(cid: str, name: str) -> ContainerRecord:
    return container_record(
        id=cid,
        name=name,
        image="r/i:t",
        image_digest="sha256:d",
        image_id="sha256:c",
        created=1.0,
        config={"args": ["sh"]},
    )


def test_new_database_is_wal_and_at_the_latest_version(tmp_path: Path) -> None:
    db = Metadata(str(tmp_path / "m.db"))
    assert db.version == len(MIGRATIONS)
    raw = sqlite3.connect(tmp_path / "m.db")
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [r[0] for r in raw.execute("SELECT version FROM migrations")] == list(
        range(1, len(MIGRATIONS) + 1)
    )
    db.close()
    # reopening migrates nothing twice
    assert Metadata(str(tmp_path / "m.db")).version == len(MIGRATIONS)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    Metadata(str(tmp_path / "m.db")).close()
    raw = sqlite3.connect(tmp_path / "m.db")
    raw.execute("INSERT INTO migrations VALUES (?, 0)", (len(MIGRATIONS) + 1,))
    raw.commit()
    with pytest.raises(EngineError) as caught:
        Metadata(str(tmp_path / "m.db"))
    assert caught.value.reference == "engine-error"


def test_names_are_unique(tmp_path: Path) -> None:
    db = Metadata(str(tmp_path / "m.db"))
    db.insert_container(container("a" * 64, "web"))
    with pytest.raises(NameInUseError):
        db.insert_container(container("b" * 64, "web"))
    assert [c.id for c in db.containers()] == ["a" * 64]


def test_a_failed_transaction_leaves_the_old_record(tmp_path: Path) -> None:
    db = Metadata(str(tmp_path / "m.db"))
    db.insert_container(container("a" * 64, "web"))

    def crash() -> None:
        with db.write() as conn:
            conn.execute("UPDATE containers SET status = 'running'")
            raise RuntimeError("crash in the middle")

    with pytest.raises(RuntimeError):
        crash()
    record = db.container("a" * 64)
    assert record is not None and record.status == "created"


def test_update_and_delete(tmp_path: Path) -> None:
    db = Metadata(str(tmp_path / "m.db"))
    db.insert_container(container("a" * 64, "web"))
    db.update_container("a" * 64, status="exited", exit_code=3, oom_killed=True)
    record = db.container("a" * 64)
    assert record is not None
    assert (record.status, record.exit_code, record.oom_killed) == ("exited", 3, True)
    db.delete_container("a" * 64)
    assert db.container("a" * 64) is None


def test_images_round_trip(tmp_path: Path) -> None:
    db = Metadata(str(tmp_path / "m.db"))
    image = ImageRecord(
        name="r/i:t",
        digest="sha256:d",
        image_id="sha256:c",
        created="2026-01-01T00:00:00Z",
        size=10,
        pulled=2.0,
        diff_ids=("sha256:1", "sha256:2"),
    )
    db.put_image(image)
    assert db.images() == [image]
    with db.write() as conn:
        db.delete_image(conn, "r/i:t")
    assert db.images() == []


def test_a_container_is_found_by_name_id_or_id_prefix(tmp_path: Path) -> None:
    db = Metadata(str(tmp_path / "m.db"))
    db.insert_container(container("abc123" + "0" * 58, "web"))
    db.insert_container(container("abd456" + "0" * 58, "db"))
    web = db.container_named("web")
    assert web is not None and web.name == "web"
    named = db.container_named("abd456" + "0" * 58)
    assert named is not None and named.name == "db"
    assert db.container_named("ab") is None  # a prefix is not a name
    assert [c.name for c in db.containers_with_id_prefix("abc")] == ["web"]
    assert {c.name for c in db.containers_with_id_prefix("ab")} == {"web", "db"}
    # ids are lowercase hex: no other text (glob characters, capitals) matches any
    for text in ("", "AB", "a*", "a?", "[a]b", "web"):
        assert db.containers_with_id_prefix(text) == []
