"""Recorded event streams: Falco/sysdig `.scap` files and bastion's own captures, as `Event`s.

`open_replay` recognises the file by its first bytes, seeds the state with what the file
recorded before its first event (a .scap's process, fd and user lists; a bastion capture's
snapshot) and yields decoded events in order, not yet applied: the caller (the pipeline) applies
them, as it does live events.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator

from bastion.errors import BastionError
from bastion.sensor.events.model import Event

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.sensor.state import SensorState

_SCAP_MAGIC = b"\x0a\x0d\x0d\x0a"
_GZIP_MAGIC = b"\x1f\x8b"


class ReplayError(BastionError):
    """Raised for a file that is neither a .scap capture nor a bastion capture."""

    reference = "replay-format"


def _head(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            first = f.read(8)
            if first[:2] == _GZIP_MAGIC:
                f.seek(0)
                with gzip.GzipFile(fileobj=f) as unzipped:
                    return unzipped.read(8)
            return first
    except OSError as exc:
        raise ReplayError(
            f"cannot read {path}: {exc.strerror}", where=path, reference="replay-open"
        ) from exc
    except (EOFError, gzip.BadGzipFile) as exc:
        raise ReplayError(f"{path}: corrupt gzip stream ({exc})", where=path) from exc


def open_replay(path: str, state: SensorState) -> Iterator[Event]:
    """Seed `state` from `path` and yield its events (a generator: seeding happens at the
    first `next`)."""
    head = _head(path)
    if head.startswith(_SCAP_MAGIC):
        return _scap_events(path, state)
    from bastion.sensor.capture.bcap import MAGIC

    if head.startswith(MAGIC):
        return _bcap_events(path, state)
    raise ReplayError(
        f"{path} is neither a .scap capture nor a bastion capture (first bytes {head[:8].hex()})",
        where=path,
        hint="`bastion capture -w FILE` writes bastion captures; Falco and sysdig write .scap",
    )


def _scap_events(path: str, state: SensorState) -> Iterator[Event]:
    from bastion.sensor.capture.scap import FdList, ProcessList, RawEvent, UserList, open_scap
    from bastion.sensor.capture.scap_blocks import FdInfo, Group, ThreadInfo, User
    from bastion.sensor.capture.scap_decode import iter_events

    scap = open_scap(path)
    threads: list[ThreadInfo] = []
    fds: list[FdInfo] = []
    users: list[User] = []
    groups: list[Group] = []
    for block in scap.blocks():
        if isinstance(block, RawEvent):
            break
        if isinstance(block, ProcessList):
            threads.extend(block.threads)
        elif isinstance(block, FdList):
            fds.extend(block.fds)
        elif isinstance(block, UserList):
            users.extend(block.users)
            groups.extend(block.groups)
    state.seed_from_scap(threads, fds, users, groups)
    yield from iter_events(scap)


def _bcap_events(path: str, state: SensorState) -> Iterator[Event]:
    from bastion.sensor.capture.bcap import BcapReader
    from bastion.sensor.probe.decode import Decoder

    with BcapReader(path) as reader:
        state.seed_from_snapshot(reader.snapshot)  # type: ignore[attr-defined]
        decoder = Decoder.for_capture(reader.header)  # type: ignore[attr-defined]
        for batch in reader.batches():
            yield from decoder.decode(batch)


def event_at(path: str, num: int, state: SensorState) -> Event:
    """Event number `num` of `path`, with `state` built by applying every event up to it."""
    for event in open_replay(path, state):
        state.apply(event)
        if event.num == num:
            return event
    raise ReplayError(
        f"{path} has no event number {num}",
        where=path,
        hint="`bastion events -r FILE` prints the events with their numbers",
        reference="replay-no-event",
    )
