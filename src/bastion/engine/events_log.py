"""The engine's event log: what its verbs did (containers, images, networks, volumes), as
Docker's events, one JSON object a line in ROOT/events.log (Podman's `events_logger=file`).

Written by the engine's verbs, whoever calls them (the CLI, the API, a monitor's exit
command), so `/events` and `bastion system events` see every action, not only those that went
through the API. Each event is one `write` to a descriptor opened with O_APPEND: the kernel
appends each whole, so writers in several processes never interleave, and nothing is fsynced
(an event is a notice, not a record: a crash may lose the last ones). When the file passes
`ROTATE_AT` bytes it becomes `events.log.1` (the previous one goes), so the log stays under
twice that. Readers (`Tail`) follow it by polling: a rotation is seen as the path's new inode.

A verb's event never fails the verb: a log that cannot be written is skipped.

An event is moby's document (api/types/events.Message): `Type`, `Action`, `Actor` (`ID`,
`Attributes`), `scope`, `time`, `timeNano`, and for containers the legacy `status`, `id`,
`from`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time

from bastion import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any

    from bastion.engine.metadata import ContainerRecord

FILE = "events.log"
#: The size at which the log is rotated (one rotated file is kept).
ROTATE_AT = 8 << 20

CONTAINER, IMAGE, NETWORK, VOLUME = "container", "image", "network", "volume"


def event(kind: str, action: str, actor_id: str, attributes: dict[str, str]) -> dict[str, Any]:
    """moby's event document for `action` on `actor_id`, stamped now."""
    now = time.time_ns()
    out: dict[str, Any] = {}
    if kind == CONTAINER:  # the fields of API < 1.22, which the docker CLI still prints
        out = {"status": action, "id": actor_id, "from": attributes.get("image", "")}
    out.update(
        Type=kind,
        Action=action,
        Actor={"ID": actor_id, "Attributes": attributes},
        scope="local",
        time=now // 1_000_000_000,
        timeNano=now,
    )
    return out


class EventLog:
    """The event log under the engine root `root`."""

    def __init__(self, root: str, *, rotate_at: int = ROTATE_AT) -> None:
        self.path = os.path.join(root, FILE)
        self.rotate_at = rotate_at

    def record(
        self, kind: str, action: str, actor_id: str, attributes: dict[str, str] | None = None
    ) -> None:
        """Append one event (never raises on a log that cannot be written)."""
        line = jsonio.dumps(event(kind, action, actor_id, dict(attributes or {}))) + "\n"
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return
        try:
            os.write(fd, line.encode())
            if os.fstat(fd).st_size > self.rotate_at:
                self._rotate(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def container(self, record: ContainerRecord, action: str, **attributes: str) -> None:
        """A container event with moby's attributes: its labels, `name`, `image`, then
        `attributes` (`exitCode`, `signal`, `oldName`)."""
        attrs = {str(k): str(v) for k, v in record.config.get("labels", {}).items()}
        attrs.update(name=record.name, image=record.image, **attributes)
        self.record(CONTAINER, action, record.id, attrs)

    def _rotate(self, fd: int) -> None:
        # under the file's flock, and only if the path is still this file: two writers that
        # both saw it full rotate it once (the second would throw the first's rotation away)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                os.replace(self.path, self.path + ".1")
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def tail(self, *, from_start: bool) -> Tail:
        """A reader of the events recorded from now on, or, `from_start`, of every event
        the log still holds (the rotated file's first) and then the new ones."""
        return Tail(self.path, from_start=from_start)

    def events(self) -> list[dict[str, Any]]:
        """Every event the log holds, oldest first."""
        with self.tail(from_start=True) as tail:
            return tail.read()


class Tail:
    """Follows the log across rotations: `read()` gives the events appended since the last
    call. A line still being written (no newline yet) waits for the next call."""

    def __init__(self, path: str, *, from_start: bool) -> None:
        self._path = path
        self._fd: int | None = None
        self._ino = -1
        self._pending = b""
        # the rotated file first, then the log from its start
        self._then_current = False
        if from_start:
            if self._open(path + ".1", at_end=False):
                self._then_current = True
            else:
                self._open(path, at_end=False)
        else:
            self._open(path, at_end=True)

    def _open(self, path: str, *, at_end: bool) -> bool:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._ino = fd, os.fstat(fd).st_ino
        if at_end:
            os.lseek(fd, 0, os.SEEK_END)
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Tail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self) -> list[dict[str, Any]]:
        chunks = [self._pending]
        while True:
            # no log yet when we started: all of it is new
            if self._fd is None and not self._open(self._path, at_end=False):
                break
            assert self._fd is not None
            chunk = os.read(self._fd, 1 << 16)
            if chunk:
                chunks.append(chunk)
                continue
            if self._then_current:
                self._then_current = False
                if not self._open(self._path, at_end=False):
                    self.close()
                continue
            try:
                if os.stat(self._path).st_ino == self._ino:
                    break
            except FileNotFoundError:
                break
            # rotated: this file is drained (a writer that opened it before the rename has
            # written by now, or writes into the rotated file, which nobody reads again). If
            # it was rotated twice since the last read, the rotated file is one we have not
            # read: that first.
            drained = self._ino
            if self._open(self._path + ".1", at_end=False) and self._ino != drained:
                self._then_current = True
            elif not self._open(self._path, at_end=False):
                break
        data = b"".join(chunks)
        complete, _, self._pending = data.rpartition(b"\n")
        return list(_decode(complete.split(b"\n") if complete else ()))


def _decode(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    for line in lines:
        with contextlib.suppress(ValueError, UnicodeDecodeError):  # a torn line: skipped
            found = jsonio.loads(line.decode())
            if isinstance(found, dict):
                yield found


def matches(event: dict[str, Any], filters: dict[str, set[str]]) -> bool:
    """Whether the event passes moby's events filters (`type`, `event`, `container`,
    `image`, `network`, `volume`, `label`: each key's values or-ed, the keys and-ed)."""
    actor = event.get("Actor", {})
    attrs = actor.get("Attributes", {})
    ident, kind = actor.get("ID", ""), event.get("Type", "")
    names = {ident, ident[:12], attrs.get("name", "")}
    checks = {
        "type": {kind},
        "event": {event.get("Action", "")},
        "container": names if kind == CONTAINER else set(),
        "image": {attrs.get("image", "")} if kind == CONTAINER else names,
        "network": names if kind == NETWORK else set(),
        "volume": names if kind == VOLUME else set(),
    }
    for key, wanted in filters.items():
        if key == "label":
            for item in wanted:
                name, has_value, value = item.partition("=")
                if name not in attrs or (has_value and attrs[name] != value):
                    return False
        elif key in checks and not wanted & checks[key]:
            return False
    return True


#: The filter keys `matches` knows.
FILTER_KEYS = frozenset(("type", "event", "container", "image", "network", "volume", "label"))

#: How often `select` looks for new lines while it follows the log.
POLL = 0.1


def parse_filters(items: Iterable[str]) -> dict[str, set[str]]:
    """`--filter KEY=VALUE` options as `matches` takes them; an unknown key is refused."""
    from bastion.engine.errors import InvalidOptionError

    filters: dict[str, set[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in FILTER_KEYS:
            raise InvalidOptionError(
                f"invalid filter {item!r}",
                hint=f"KEY=VALUE with KEY one of {', '.join(sorted(FILTER_KEYS))}",
            )
        filters.setdefault(key, set()).add(value)
    return filters


def select(
    log: EventLog,
    *,
    since: float | None = None,
    until: float | None = None,
    filters: dict[str, set[str]] | None = None,
    follow: bool = True,
) -> Iterator[dict[str, Any]]:
    """The events `docker events` shows: with `since` (Unix time), the recorded ones from
    then; while `follow`, the new ones as they come, until `until` (which, in the past, ends
    the replay there). Without `since` and `follow`, nothing."""
    wanted = filters or {}
    with log.tail(from_start=since is not None) as tail:
        while True:
            for found in tail.read():
                moment = found.get("timeNano", 0) / 1e9
                if since is not None and moment < since:
                    continue
                if until is not None and moment > until:
                    return
                if matches(found, wanted):
                    yield found
            if not follow or (until is not None and time.time() > until):
                return
            time.sleep(POLL)
