"""Damaged bastion captures: whatever the damage, the reader raises `BcapError` and nothing else."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.sensor.capture import bcap
from bastion.sensor.capture.bcap import BcapHeader, BcapReader, BcapWriter, Snapshot
from bastion.sensor.state.model import Fd, FdType, Thread


def _sample(path: Path, compress: bool) -> bytes:
    rng = random.Random(5)
    fds = {3: Fd(num=3, type=FdType.FILE, name="/etc/hosts")}
    snapshot = Snapshot(threads=[Thread(tid=5, pid=5, comm="sh", args=("-c", "x"), fds=fds)])
    with BcapWriter(str(path), BcapHeader.now(), snapshot, compress=compress) as writer:
        for n in (3, 5):
            writer.write_batch([rng.randbytes(rng.randrange(1, 64)) for _ in range(n)])
        writer.close({"produced": 8, "dropped_ring_full": 0})
    return path.read_bytes()


def _read_all(path: Path) -> None:
    try:
        with BcapReader(str(path)) as reader:
            for _ in reader.batches():
                pass
    except bcap.BcapError:
        pass


_mutation = st.lists(
    st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(compress=st.booleans(), edits=_mutation, cut=st.one_of(st.none(), st.integers(min_value=0)))
def test_mutated_captures_raise_only_bcap_errors(
    tmp_path: Path, compress: bool, edits: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(_sample(tmp_path / "orig.bcap", compress))
    for where, value in edits:
        data[where % len(data)] = value
    if cut is not None:
        del data[cut % len(data) :]
    damaged = tmp_path / "damaged.bcap"
    damaged.write_bytes(bytes(data))
    _read_all(damaged)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(garbage=st.binary(max_size=200))
def test_garbage_after_a_valid_prelude_raises_only_bcap_errors(
    tmp_path: Path, garbage: bytes
) -> None:
    damaged = tmp_path / "garbage.bcap"
    damaged.write_bytes(bcap.MAGIC + bcap.FORMAT_VERSION.to_bytes(4, "little") + garbage)
    _read_all(damaged)


def test_a_bad_gzip_crc_is_found_after_the_trailer(tmp_path: Path) -> None:
    """gzip checks its CRC only at the end of the stream, after our trailer block was read:
    the reader must still read to the end and call it damage (a fuzzing find)."""
    data = bytearray(_sample(tmp_path / "orig.bcap.gz", True))
    data[-8] ^= 0x01  # the gzip member's CRC32 (the last 8 bytes are CRC32 + ISIZE)
    path = tmp_path / "bad.bcap.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(bcap.BcapCorruptError, match="gzip"), BcapReader(str(path)) as reader:
        for _ in reader.batches():
            pass
