"""Putting a SQLite database into WAL mode when other processes may be opening it too.

The switch to WAL needs the database's exclusive lock. A connection that asks for it while it holds
a shared lock, and another connection already holds or waits for a write lock, gets SQLITE_BUSY at
once: SQLite does not call the busy handler there, since waiting could deadlock both. So when
twenty `bastion pull`s open one new engine root together, some fail with "database is locked"
whatever `busy_timeout` says. The mode is persistent (a property of the file), so the fix is to
let the others finish and look again: once any connection has switched, every later open sees
"wal" and needs no lock.
"""

from __future__ import annotations

# The C module: `sqlite3` would import `datetime` (~1 ms) for adapters no caller uses; the
# connection and error classes are the same objects.
import _sqlite3 as sqlite3
import time

#: The longest pause between two attempts: the lock holder's transaction is a few statements.
_MAX_PAUSE = 0.05


def enter_wal(db: sqlite3.Connection, timeout: float) -> None:
    """Put `db`'s file into WAL mode, retrying a busy database for up to `timeout` seconds.

    Raises the last `sqlite3.OperationalError` when the lock is still held at the deadline, and
    any other error at once. A database that cannot use WAL (in memory) keeps its own mode.
    """
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode = WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            # the primary code: SQLITE_BUSY_RECOVERY and the like are busy too
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
            if code != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, _MAX_PAUSE)
