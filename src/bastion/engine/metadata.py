"""The engine's metadata: one SQLite database (WAL) under the engine root, shared by every CLI
process (daemonless, as Podman's libpod database).

Every change runs in one `BEGIN IMMEDIATE` transaction, so a crash leaves the old or the new
record and concurrent writers queue on SQLite's lock (`busy_timeout`) instead of failing. The
schema is versioned from the first release: `MIGRATIONS[n]` takes version n to n+1, and
`migrations` records each one applied.
"""

from __future__ import annotations

# SQLite's C module itself: the `sqlite3` package around it adds only the datetime adapters this
# database never uses, and imports `datetime` for them (~1 ms of every CLI call). The classes are
# the package's own (sqlite3.Error is _sqlite3.Error), so callers may catch either name.
import _sqlite3 as sqlite3
import contextlib
import time

from bastion import jsonio
from bastion._record import record
from bastion.engine.errors import EngineError
from bastion.sqlite_wal import enter_wal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE images (
            name TEXT PRIMARY KEY,
            digest TEXT NOT NULL,
            image_id TEXT NOT NULL,
            created TEXT NOT NULL,
            size INTEGER NOT NULL,
            pulled REAL NOT NULL,
            diff_ids TEXT NOT NULL
        )""",
        """CREATE TABLE containers (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            image TEXT NOT NULL,
            image_digest TEXT NOT NULL,
            image_id TEXT NOT NULL,
            created REAL NOT NULL,
            status TEXT NOT NULL,
            exit_code INTEGER,
            oom_killed INTEGER NOT NULL DEFAULT 0,
            pid INTEGER NOT NULL DEFAULT 0,
            started REAL,
            finished REAL,
            config TEXT NOT NULL
        )""",
    ),
    # volumes (engine/volumes.py); which containers use one is in their `config`
    (
        """CREATE TABLE volumes (
            name TEXT PRIMARY KEY,
            created REAL NOT NULL,
            labels TEXT NOT NULL,
            anonymous INTEGER NOT NULL DEFAULT 0
        )""",
    ),
    # restart policies (engine/restart.py): how often the policy restarted it, and whether
    # the user stopped it (`stop`/`kill`), which no policy overrides
    (
        "ALTER TABLE containers ADD COLUMN restart_count INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE containers ADD COLUMN stopped_by_user INTEGER NOT NULL DEFAULT 0",
    ),
    # networks (engine/networks.py): a network per row, an address lease per attachment (the
    # UNIQUE pairs are what makes two `run`s never share an address), and the engine's
    # settings (the network prefix a root was first used with)
    (
        """CREATE TABLE networks (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            driver TEXT NOT NULL,
            bridge TEXT NOT NULL UNIQUE,
            subnets TEXT NOT NULL,
            gateways TEXT NOT NULL,
            internal INTEGER NOT NULL,
            ipv6 INTEGER NOT NULL,
            labels TEXT NOT NULL,
            created REAL NOT NULL
        )""",
        """CREATE TABLE leases (
            network_id TEXT NOT NULL,
            container_id TEXT NOT NULL,
            ipv4 TEXT,
            ipv6 TEXT,
            mac TEXT NOT NULL,
            veth TEXT NOT NULL,
            aliases TEXT NOT NULL,
            PRIMARY KEY (network_id, container_id),
            UNIQUE (network_id, ipv4),
            UNIQUE (network_id, ipv6)
        )""",
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
    # kept addresses (engine/networks.py): a stopped container's address on each network,
    # kept for its next start while it exists (Docker's); its lease is gone meanwhile
    (
        """CREATE TABLE kept_addresses (
            network_id TEXT NOT NULL,
            container_id TEXT NOT NULL,
            ipv4 TEXT,
            ipv6 TEXT,
            PRIMARY KEY (network_id, container_id)
        )""",
    ),
    # health checks (engine/health.py): the last results of a container with a check, apart
    # from its record so a container without one reads and writes nothing more
    (
        """CREATE TABLE health (
            container_id TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            failing_streak INTEGER NOT NULL DEFAULT 0,
            log TEXT NOT NULL DEFAULT '[]'
        )""",
    ),
)

#: How long a writer waits for another process's transaction (20 concurrent `run`s queue here).
BUSY_TIMEOUT_MS = 60_000


@record
class ImageRecord:
    name: str
    digest: str
    image_id: str
    created: str
    size: int
    pulled: float
    diff_ids: tuple[str, ...]


@record
class ContainerRecord:
    """A container as the engine knows it; `config` holds what it was made with (argv, env,
    options, the image's layers), as JSON."""

    id: str
    name: str
    image: str
    image_digest: str
    image_id: str
    created: float
    status: str
    exit_code: int | None
    oom_killed: bool
    pid: int
    started: float | None
    finished: float | None
    config: dict[str, Any]
    restart_count: int = 0
    stopped_by_user: bool = False


class Metadata:
    """The database at `path` (made and migrated on first open)."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            # isolation_level=None: transactions are explicit (`write`), never implicit
            self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            enter_wal(self._db, BUSY_TIMEOUT_MS / 1000)
            self._db.execute("PRAGMA synchronous = NORMAL")  # WAL: durable at checkpoints
            self._migrate()
        except sqlite3.Error as exc:
            raise EngineError(f"cannot open the metadata: {exc}", where=path) from exc

    #: False: `close` leaves the connection open for the process's exit to drop. SQLite
    #: checkpoints the WAL into the database (with fsyncs) when the last connection closes; a
    #: process that ends at once with `os._exit` (the CLI) skips that, and the WAL stays valid
    #: for the next one, whose commits checkpoint it once it has grown (wal_autocheckpoint).
    checkpoint_on_close = True

    def close(self) -> None:
        if self.checkpoint_on_close:
            self._db.close()

    @property
    def version(self) -> int:
        row = self._db.execute("SELECT MAX(version) FROM migrations").fetchone()
        return int(row[0] or 0)

    def _migrate(self) -> None:
        # a read first: a database already at this schema (every open but the first) takes no
        # write lock, so a `run` does not queue behind another engine's transaction to learn it
        with contextlib.suppress(sqlite3.OperationalError):  # no migrations table yet
            if self.version == len(MIGRATIONS):
                return
        with self.write() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, applied REAL)"
            )
            current = int(db.execute("SELECT MAX(version) FROM migrations").fetchone()[0] or 0)
            if current > len(MIGRATIONS):
                raise EngineError(
                    f"the metadata has schema version {current}, newer than this bastion's "
                    f"{len(MIGRATIONS)}",
                    where=self.path,
                    hint="use the bastion that wrote it",
                )
            for version in range(current, len(MIGRATIONS)):
                for statement in MIGRATIONS[version]:
                    db.execute(statement)
                db.execute("INSERT INTO migrations VALUES (?, ?)", (version + 1, time.time()))

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def query(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read (outside or inside a `write` block)."""
        return self._db.execute(sql, parameters).fetchall()

    # --- images -----------------------------------------------------------------------------

    def put_image(self, image: ImageRecord) -> None:
        with self.write() as db:
            db.execute(
                "INSERT OR REPLACE INTO images VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    image.name,
                    image.digest,
                    image.image_id,
                    image.created,
                    image.size,
                    image.pulled,
                    jsonio.dumps(list(image.diff_ids)),
                ),
            )

    def images(self) -> list[ImageRecord]:
        rows = self._db.execute("SELECT * FROM images ORDER BY pulled DESC, name").fetchall()
        return [_image(row) for row in rows]

    def delete_image(self, db: sqlite3.Connection, name: str) -> None:
        db.execute("DELETE FROM images WHERE name = ?", (name,))

    # --- containers -------------------------------------------------------------------------

    def insert_container(self, record: ContainerRecord) -> None:
        """Add `record`; `NameInUseError` if its name is taken (checked inside the transaction,
        so two `run --name x` cannot both win)."""
        from bastion.engine.errors import NameInUseError

        try:
            with self.write() as db:
                db.execute(
                    "INSERT INTO containers (id, name, image, image_digest, image_id, created,"
                    " status, exit_code, oom_killed, pid, started, finished, config)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.id,
                        record.name,
                        record.image,
                        record.image_digest,
                        record.image_id,
                        record.created,
                        record.status,
                        record.exit_code,
                        int(record.oom_killed),
                        record.pid,
                        record.started,
                        record.finished,
                        jsonio.dumps(record.config),
                    ),
                )
        except sqlite3.IntegrityError as exc:
            raise NameInUseError(
                f"the container name {record.name!r} is already in use",
                hint="remove that container or choose another --name",
            ) from exc

    def update_container(self, container_id: str, **fields: Any) -> None:
        for flag in ("oom_killed", "stopped_by_user"):
            if flag in fields:
                fields[flag] = int(fields[flag])
        columns = ", ".join(f"{key} = ?" for key in fields)
        with self.write() as db:
            db.execute(
                f"UPDATE containers SET {columns} WHERE id = ?", (*fields.values(), container_id)
            )

    def rename_container(self, container_id: str, name: str) -> None:
        """Rename; `NameInUseError` if another container has `name` (the UNIQUE column)."""
        from bastion.engine.errors import NameInUseError

        try:
            self.update_container(container_id, name=name)
        except sqlite3.IntegrityError as exc:
            raise NameInUseError(
                f"the container name {name!r} is already in use",
                hint="remove that container or choose another name",
            ) from exc

    def delete_container(self, container_id: str) -> None:
        with self.write() as db:
            db.execute("DELETE FROM containers WHERE id = ?", (container_id,))
            db.execute("DELETE FROM health WHERE container_id = ?", (container_id,))

    def containers(self) -> list[ContainerRecord]:
        rows = self._db.execute("SELECT * FROM containers ORDER BY created DESC").fetchall()
        return [_container(row) for row in rows]

    def container(self, container_id: str) -> ContainerRecord | None:
        row = self._db.execute("SELECT * FROM containers WHERE id = ?", (container_id,)).fetchone()
        return None if row is None else _container(row)

    def container_named(self, name_or_id: str) -> ContainerRecord | None:
        """The container whose name or id is `name_or_id` (the newest, should one's name be
        another's id), through the two columns' indexes: no other record is read."""
        row = self._db.execute(
            "SELECT * FROM containers WHERE id = ? OR name = ? ORDER BY created DESC LIMIT 1",
            (name_or_id, name_or_id),
        ).fetchone()
        return None if row is None else _container(row)

    def containers_with_id_prefix(self, prefix: str) -> list[ContainerRecord]:
        """The containers whose id starts with `prefix`, newest first (ids are lowercase hex,
        so anything else matches none; GLOB, unlike LIKE, is case-sensitive)."""
        if not prefix or prefix.strip("0123456789abcdef"):
            return []
        rows = self._db.execute(
            "SELECT * FROM containers WHERE id GLOB ? ORDER BY created DESC", (prefix + "*",)
        ).fetchall()
        return [_container(row) for row in rows]


def _image(row: tuple[Any, ...]) -> ImageRecord:
    return ImageRecord(
        name=row[0],
        digest=row[1],
        image_id=row[2],
        created=row[3],
        size=row[4],
        pulled=row[5],
        diff_ids=tuple(jsonio.loads(row[6])),
    )


def _container(row: tuple[Any, ...]) -> ContainerRecord:
    return ContainerRecord(
        id=row[0],
        name=row[1],
        image=row[2],
        image_digest=row[3],
        image_id=row[4],
        created=row[5],
        status=row[6],
        exit_code=row[7],
        oom_killed=bool(row[8]),
        pid=row[9],
        started=row[10],
        finished=row[11],
        config=jsonio.loads(row[12]),
        restart_count=row[13],
        stopped_by_user=bool(row[14]),
    )
