"""Damaged captures (issue [falco-parity] item 5): a truncated .scap replays every complete event
before the damage, then reports it with its byte offset, as sysdig does; a damaged gzip stream
says it is the gzip layer; a file cut mid-file is "corrupt at byte N", not "unknown format".

The damaged files are cut from the shared cat_write.scap in the test; where its blocks start is
worked out here from the block headers (type u32, total length u32), not by the reader.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest

from bastion.errors import BastionError
from bastion.sensor.capture import ScapFormatError
from bastion.sensor.sources import UnknownCaptureError, open_recording
from bastion.sensor.state import SensorState
from bastion_testing import shared_data

pytestmark = shared_data.needs("falco", "captures", "cat_write.scap")
CAT_WRITE = shared_data.shared_path("falco", "captures", "cat_write.scap")
EVENT_BLOCKS = frozenset({0x204, 0x208, 0x216, 0x217, 0x221, 0x222, 0x8010ABCD})


def plain() -> bytes:
    return gzip.decompress(CAT_WRITE.read_bytes())


def blocks(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, type, length) of every block, from the headers alone."""
    out, at = [], 0
    while at < len(data):
        btype, total = struct.unpack_from("<II", data, at)
        out.append((at, btype, total))
        at += total
    return out


def new_state() -> SensorState:
    state = SensorState(runtime_roots=(), proc_root="/nonexistent", host_root="/nonexistent")
    state.live = False
    return state


def replay(path: Path) -> tuple[list[str], BastionError | None]:
    """The event types replayed from `path`, and the error that ended the replay (if any)."""
    seen: list[str] = []
    try:
        source = open_recording(str(path), new_state())
        for batch in source.batches():
            seen.extend(event.type for event in batch)
    except BastionError as exc:
        return seen, exc
    return seen, None


def test_a_truncated_capture_replays_every_event_before_the_damage(tmp_path: Path) -> None:
    data = plain()
    events = [(at, total) for at, btype, total in blocks(data) if btype in EVENT_BLOCKS]
    full, error = replay(CAT_WRITE)
    assert error is None and len(full) == len(events)
    # cut in the middle of the 40th event from the end
    at, total = events[-40]
    path = tmp_path / "cut.scap"
    path.write_bytes(data[: at + total // 2])
    seen, error = replay(path)
    assert seen == full[: len(events) - 40]
    assert isinstance(error, ScapFormatError)
    assert error.reference == "scap-corrupt"
    # the reader points at the block's length field, 4 bytes into the block
    assert f"corrupt at byte {at + 4}: EV block declares {total} bytes" in error.message
    assert error.where == f"{path}:byte {at + 4}"


def test_a_damaged_gzip_stream_says_it_is_the_gzip_layer(tmp_path: Path) -> None:
    raw = CAT_WRITE.read_bytes()
    path = tmp_path / "cut.scap.gz"
    path.write_bytes(raw[: len(raw) - 500])
    seen, error = replay(path)
    assert isinstance(error, ScapFormatError)
    assert error.message.startswith("the gzip layer is damaged (compressed stream ends early)")
    assert 0 < len(seen) < len(replay(CAT_WRITE)[0])
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(flipped))
    _, error = replay(path)
    assert isinstance(error, ScapFormatError)
    assert error.message.startswith("the gzip layer is damaged")


@pytest.mark.parametrize("where", ["process lists", "header"])
def test_a_file_cut_mid_file_is_corrupt_not_unknown(tmp_path: Path, where: str) -> None:
    data = plain()
    layout = blocks(data)
    first_fdl = next(at for at, btype, _ in layout if btype in (0x203, 0x218, 0x8001ABCD))
    cut = first_fdl + 30 if where == "process lists" else 20
    path = tmp_path / "cut.scap"
    path.write_bytes(data[:cut])
    seen, error = replay(path)
    assert seen == []
    assert isinstance(error, ScapFormatError) and not isinstance(error, UnknownCaptureError)
    offset = first_fdl + 4 if where == "process lists" else 0
    assert f"corrupt at byte {offset}" in error.message


def test_a_file_that_is_no_capture_is_unknown(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are not events\n")
    assert isinstance(replay(path)[1], UnknownCaptureError)
