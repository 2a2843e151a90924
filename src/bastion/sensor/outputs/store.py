"""Alerts kept in SQLite, so `bastion alerts` can list them after the fact.

One writer (the sensor) and any number of readers (`bastion alerts`, `bastion dashboard`): the
database is in WAL mode, so readers never block the writer nor see a half-written batch. An
alert after a quiet spell is committed at once; the ones that follow within `flush_interval`
(0.1 s) are committed together when it ends, or when `batch_size` are waiting: one fsync per
alert would cap a noisy rule at a few hundred alerts a second. A background thread, woken when
rows wait (not on a timer), makes that commit, so an alert reaches readers within
`flush_interval` with no later alert to push it out.
`priority` is stored with its rank (0 = Emergency) so "at least Warning" is an indexed range
query.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from bastion.sensor.outputs.alert import PRIORITIES, Alert, priority_rank
from bastion.sensor.outputs.errors import (
    AlertStoreError,
    AlertStoreMissingError,
    UnknownPriorityError,
)
from bastion.sensor.outputs.json_out import json_value
from bastion.sensor.outputs.stats import Counters, OutputStatistics
from bastion.sqlite_wal import enter_wal

DEFAULT_PATH = "/var/lib/bastion/alerts.db"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id              INTEGER PRIMARY KEY,
    time_ns         INTEGER NOT NULL,
    rule            TEXT    NOT NULL,
    priority        TEXT    NOT NULL,
    severity        INTEGER NOT NULL,
    output          TEXT    NOT NULL,
    output_fields   TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    tags            TEXT    NOT NULL,
    hostname        TEXT    NOT NULL,
    container_id    TEXT    NOT NULL,
    container_name  TEXT    NOT NULL,
    event_num       INTEGER NOT NULL,
    action          TEXT
);
CREATE INDEX IF NOT EXISTS alerts_time ON alerts (time_ns);
CREATE INDEX IF NOT EXISTS alerts_rule ON alerts (rule, time_ns);
CREATE INDEX IF NOT EXISTS alerts_severity ON alerts (severity, time_ns);
CREATE INDEX IF NOT EXISTS alerts_container ON alerts (container_id, time_ns);
CREATE INDEX IF NOT EXISTS alerts_container_name ON alerts (container_name, time_ns);
"""

_COLUMNS = (
    "time_ns, rule, priority, severity, output, output_fields, source, tags, hostname,"
    " container_id, container_name, event_num, action"
)
_INSERT = f"INSERT INTO alerts ({_COLUMNS}) VALUES ({', '.join('?' * 13)})"

Row = tuple[object, ...]

#: `query`'s and `tail`'s `container`: a container id, an id prefix or a container name.
_CONTAINER_MATCH = "(container_id = ? OR container_name = ? OR substr(container_id, 1, ?) = ?)"


def _container_args(container: str) -> list[object]:
    return [container, container, len(container), container]


@dataclass(frozen=True, slots=True)
class Tail:
    """What `AlertStore.tail` read: the newest of the new alerts (oldest first), the count of
    all new alerts by container short id, the id to read after next time, and whether the
    store had fewer rows than `after_id` (a new store: the reader starts over)."""

    alerts: list[Alert]
    counts: dict[str, int]
    last_id: int
    restarted: bool


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _row(alert: Alert) -> Row:
    rank = priority_rank(alert.priority)
    fields = {k: json_value(v) for k, v in alert.output_fields.items()}
    return (
        alert.time_ns,
        alert.rule,
        alert.priority,
        len(PRIORITIES) if rank is None else rank,  # unknown: below Debug
        alert.output,
        _dumps(fields),
        alert.source,
        _dumps(list(alert.tags)),
        alert.hostname,
        alert.container_id,
        alert.container_name,
        alert.event_num,
        alert.action,
    )


def _alert(row: Sequence[object]) -> Alert:
    (time_ns, rule, priority, _, output, fields, source, tags, host, cid, cname, num, action) = row
    return Alert(
        time_ns=int(str(time_ns)),
        rule=str(rule),
        priority=str(priority),
        output=str(output),
        output_fields=json.loads(str(fields)),
        source=str(source),
        tags=tuple(json.loads(str(tags))),
        hostname=str(host),
        container_id=str(cid),
        container_name=str(cname),
        event_num=int(str(num)),
        action=None if action is None else str(action),
    )


class AlertStore:
    """The alert table at `path`; an `Output` (`emit`, `close`) and a query interface.

    `readonly=True` opens an existing store for reading only (`bastion alerts`): a missing file
    is an `AlertStoreMissingError` rather than a new empty database.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = DEFAULT_PATH,
        *,
        readonly: bool = False,
        batch_size: int = 64,
        flush_interval: float = 0.1,
        busy_timeout: float = 5.0,
    ) -> None:
        self.path = os.fspath(path)
        self.readonly = readonly
        self._batch_size = max(1, batch_size)
        self._flush_interval = flush_interval
        self._pending: list[Row] = []
        self._last_flush = -float("inf")  # the first alert is committed at once
        self._lock = threading.Lock()
        self._waiting = threading.Condition(self._lock)  # the flusher's: rows wait, or close
        self._closed = threading.Event()
        self._flusher: threading.Thread | None = None
        self._counters = Counters(f"sqlite {self.path}")
        with self._errors("open"):
            self._db = self._connect(busy_timeout)

    def _connect(self, busy_timeout: float) -> sqlite3.Connection:
        if self.readonly:
            if not os.path.exists(self.path):
                raise AlertStoreMissingError(
                    "no alert store here",
                    where=self.path,
                    hint="alerts are stored by `bastion watch` with the SQLite output; "
                    "pass --db PATH to read another store",
                )
            # rw (never create) when we may: the last connection to close then checkpoints and
            # removes the -wal/-shm files; ro otherwise (another user's store, read-only media).
            mode = "rw" if os.access(self.path, os.W_OK) else "ro"
            uri = "file:" + _uri_path(self.path) + "?mode=" + mode
            db = sqlite3.connect(uri, uri=True, timeout=busy_timeout, check_same_thread=False)
            try:
                self._check_schema(db)
            except BaseException:
                db.close()
                raise
            return db
        parent = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(parent, mode=0o750, exist_ok=True)
        # The file holds what users ran and touched: readable by root's group at most.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        os.close(fd)
        db = sqlite3.connect(self.path, timeout=busy_timeout, check_same_thread=False)
        try:
            enter_wal(db, busy_timeout)
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise AlertStoreError(
                    f"alert store schema version {version}, this bastion knows {SCHEMA_VERSION}",
                    where=self.path,
                    hint="use the bastion that wrote it, or move the file away",
                )
            with db:
                db.executescript(_SCHEMA)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            db.close()
            raise
        return db

    def _check_schema(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise AlertStoreError(
                f"not a bastion alert store (schema version {version})",
                where=self.path,
                hint="pass --db with the path `bastion watch` stores alerts in",
            )

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise AlertStoreError(
                f"cannot {doing} the alert store: {exc}", where=self.path
            ) from exc
        except OSError as exc:
            raise AlertStoreError(
                f"cannot {doing} the alert store: {exc.strerror or exc}", where=self.path
            ) from exc

    # -- Output ------------------------------------------------------------------------------

    def emit(self, alert: Alert) -> None:
        """Queue `alert`; commit now if the batch is full or the last commit is older than
        `flush_interval`, else the flusher commits when that interval ends."""
        if self.readonly:
            raise AlertStoreError("the alert store was opened read-only", where=self.path)
        with self._lock:
            self._pending.append(_row(alert))
            due = (
                len(self._pending) >= self._batch_size
                or time.monotonic() - self._last_flush >= self._flush_interval
            )
            if not due:
                self._waiting.notify()
        if due:
            self.flush()
        elif self._flusher is None:
            self._flusher = threading.Thread(
                target=self._flush_late, name="bastion-alert-store", daemon=True
            )
            self._flusher.start()

    def _flush_late(self) -> None:
        """Commit waiting rows when `flush_interval` since the last commit is over; sleep
        while none wait (an idle sensor costs no wake-ups)."""
        with self._lock:
            while not self._closed.is_set():
                left = self._last_flush + self._flush_interval - time.monotonic()
                if not self._pending:
                    self._waiting.wait()
                elif left > 0:
                    self._waiting.wait(left)
                else:
                    self._commit()

    def flush(self) -> None:
        """Commit the pending alerts now (a failure is counted; the batch is kept for a retry,
        up to 64 batches, so a locked database does not lose alerts nor grow without bound)."""
        with self._lock:
            self._commit()

    def _commit(self) -> None:
        rows, self._pending = self._pending, []
        self._last_flush = time.monotonic()
        if not rows:
            return
        try:
            with self._db:
                self._db.executemany(_INSERT, rows)
        except sqlite3.Error as exc:
            for _ in rows:
                self._counters.fail(exc)
            self._pending = (rows + self._pending)[-64 * self._batch_size :]
            return
        for _ in rows:
            self._counters.ok()

    def close(self) -> None:
        with self._lock:
            self._closed.set()
            self._waiting.notify()
        if self._flusher is not None:
            self._flusher.join()
        if not self.readonly:
            self.flush()
        self._db.close()

    def statistics(self) -> OutputStatistics:
        return self._counters.snapshot()

    # -- queries -----------------------------------------------------------------------------

    def query(
        self,
        *,
        rule: str | None = None,
        priority: str | None = None,
        container: str | None = None,
        since_ns: int | None = None,
        limit: int = 100,
    ) -> list[Alert]:
        """The newest `limit` alerts that match, oldest first.

        `priority` keeps alerts at least that severe (Falco's order: "Warning" keeps Warning,
        Error, Critical, Alert and Emergency). `container` matches a container id, an id prefix
        or a container name. `since_ns` keeps alerts at or after that time (ns since epoch).
        """
        where: list[str] = []
        args: list[object] = []
        if rule is not None:
            where.append("rule = ?")
            args.append(rule)
        if priority is not None:
            rank = priority_rank(priority)
            if rank is None:
                raise UnknownPriorityError(priority)
            where.append("severity <= ?")
            args.append(rank)
        if container is not None:
            where.append(_CONTAINER_MATCH)
            args.extend(_container_args(container))
        if since_ns is not None:
            where.append("time_ns >= ?")
            args.append(since_ns)
        sql = f"SELECT {_COLUMNS} FROM alerts"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY time_ns DESC, id DESC LIMIT ?"
        args.append(max(0, limit))
        if not self.readonly:
            self.flush()
        with self._lock, self._errors("read"):
            rows = self._db.execute(sql, args).fetchall()
        return [_alert(row) for row in reversed(rows)]

    def tail(self, after_id: int = 0, *, container: str | None = None, limit: int = 100) -> Tail:
        """The alerts stored after the one with id `after_id` (0: all): the newest `limit` of
        them, oldest first, and how many each container has among all of them, read in one
        transaction; `container` as in `query`. A follower passes the returned `last_id` next
        time, so each read costs what was added since, not the whole store."""
        if not self.readonly:
            self.flush()
        match, args = "", []
        if container is not None:
            match, args = " AND " + _CONTAINER_MATCH, _container_args(container)
        with self._lock, self._errors("read"):
            self._db.execute("BEGIN")  # one snapshot: the rows, the counts and the last id agree
            try:
                last = int(
                    self._db.execute("SELECT coalesce(max(id), 0) FROM alerts").fetchone()[0]
                )
                restarted = last < after_id  # fewer rows than before: not the same store
                if restarted:
                    after_id = 0
                span = "id > ? AND id <= ?" + match
                counts = self._db.execute(
                    f"SELECT container_id, count(*) FROM alerts WHERE {span} GROUP BY container_id",
                    [after_id, last, *args],
                ).fetchall()
                rows = self._db.execute(
                    f"SELECT {_COLUMNS} FROM alerts WHERE {span} ORDER BY id DESC LIMIT ?",
                    [after_id, last, *args, max(0, limit)],
                ).fetchall()
            finally:
                self._db.commit()
        return Tail(
            alerts=[_alert(row) for row in reversed(rows)],
            counts={str(cid): int(n) for cid, n in counts},
            last_id=last,
            restarted=restarted,
        )

    def counts_by_container(self) -> dict[str, int]:
        """How many alerts each container has (by the short id alerts carry)."""
        if not self.readonly:
            self.flush()
        with self._lock, self._errors("read"):
            rows = self._db.execute(
                "SELECT container_id, count(*) FROM alerts GROUP BY container_id"
            ).fetchall()
        return {str(cid): int(n) for cid, n in rows}

    def count(self) -> int:
        """How many alerts the store holds (pending ones included)."""
        if not self.readonly:
            self.flush()
        with self._lock, self._errors("read"):
            return int(self._db.execute("SELECT count(*) FROM alerts").fetchone()[0])


def _uri_path(path: str) -> str:
    # An SQLite URI path: percent-encode what URIs reserve (a '?' or '#' in a file name).
    from urllib.parse import quote

    return quote(os.path.abspath(path))
