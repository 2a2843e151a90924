"""bastion's capture format: round trips, the event-table fingerprint, truncation and damage."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import random
from pathlib import Path

import pytest

from bastion.sensor.capture import bcap
from bastion.sensor.capture.bcap import BcapHeader, BcapReader, BcapWriter, Snapshot
from bastion.sensor.events.schema import EVENTS, EventSpec
from bastion.sensor.state.model import Container, Fd, FdType, Thread


def _records(count: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.randrange(0, 300)) for _ in range(count)]


def _snapshot() -> Snapshot:
    fds = {
        3: Fd(num=3, type=FdType.FILE, name="/etc/passwd", flags=0o2000000, dev=2049, ino=77),
        4: Fd(
            num=4,
            type=FdType.IPV4,
            name="127.0.0.1:40000->127.0.0.1:80",
            l4proto="tcp",
            client=ipaddress.ip_address("127.0.0.1"),
            cport=40000,
            server=ipaddress.ip_address("127.0.0.1"),
            sport=80,
        ),
    }
    main = Thread(
        tid=100,
        pid=100,
        ptid=1,
        comm="cat",
        exe="cat",
        exepath="/usr/bin/cat",
        args=("/etc/passwd", "caf\udcc3"),
        cwd="/tmp/",
        uid=0,
        cgroups=(("memory", "/bst"),),
        container_id="abc",
        fds=fds,
    )
    worker = Thread(tid=101, pid=100, comm="cat", fds=fds)
    other = Thread(tid=200, pid=200, comm="sh")
    box = Container(id="abc", name="web", kind="bastion", labels={"a": "b"}, cgroup_id=9)
    return Snapshot(threads=[worker, main, other], containers=[box])


def _write(path: Path, batches: list[list[bytes]], **kwargs: object) -> bcap.BcapTrailer:
    header = BcapHeader.now(events=("openat", "close"), cgroup_ids=(9,), ring_size=1 << 20)
    with BcapWriter(str(path), header, _snapshot(), **kwargs) as writer:  # type: ignore[arg-type]
        for batch in batches:
            writer.write_batch(batch)
        return writer.close({"produced": 10, "dropped_ring_full": 2, "read": 8})


@pytest.mark.parametrize("name", ["c.bcap", "c.bcap.gz"])
def test_round_trip_keeps_header_snapshot_records_and_trailer(tmp_path: Path, name: str) -> None:
    batches = [_records(50, 1), [], _records(3, 2), [b""]]
    path = tmp_path / name
    written = _write(path, batches)
    with open(path, "rb") as f:
        assert (f.read(2) == b"\x1f\x8b") == name.endswith(".gz")
    with BcapReader(str(path)) as reader:
        assert reader.header.events == ("openat", "close")
        assert reader.header.cgroup_ids == (9,)
        assert reader.header.fingerprint == bcap.schema_fingerprint()
        assert reader.header.hostname == os.uname().nodename
        before = reader.trailer
        got = list(reader.batches())
        after = reader.trailer
    assert before is None
    assert after == written
    assert got == [b for b in batches if b]
    assert written.records == 54 and written.batches == 3
    assert after.statistics["dropped_ring_full"] == 2


def test_snapshot_round_trip_shares_fd_tables(tmp_path: Path) -> None:
    path = tmp_path / "c.bcap"
    _write(path, [])
    with BcapReader(str(path)) as reader:
        snap = reader.snapshot
        assert list(reader.batches()) == []
    threads = {t.tid: t for t in snap.threads}
    want = {t.tid: t for t in _snapshot().threads}
    assert set(threads) == set(want)
    for tid, thread in threads.items():
        assert thread == want[tid], tid
    assert threads[100].fds is threads[101].fds
    assert threads[200].fds is not threads[100].fds
    assert isinstance(threads[100].fds[4].client, ipaddress.IPv4Address)
    assert snap.containers == _snapshot().containers


def test_fingerprint_changes_with_a_param_type_and_refuses_the_file(tmp_path: Path) -> None:
    first = EVENTS[0]
    changed = dataclasses.replace(
        first, params=(dataclasses.replace(first.params[0], type="UINT8"), *first.params[1:])
    )
    other: tuple[EventSpec, ...] = (changed, *EVENTS[1:])
    assert bcap.schema_fingerprint(other) != bcap.schema_fingerprint()
    renamed = (dataclasses.replace(first, name="x"), *EVENTS[1:])
    assert bcap.schema_fingerprint(renamed) != bcap.schema_fingerprint()
    path = tmp_path / "c.bcap"
    header = BcapHeader.now(fingerprint=bcap.schema_fingerprint(other))
    with BcapWriter(str(path), header) as writer:
        writer.write_batch([b"x"])
    with pytest.raises(bcap.BcapFingerprintError) as caught:
        BcapReader(str(path))
    assert caught.value.reference == "bcap-event-table"
    assert caught.value.where == f"{path}:byte 12"
    # A caller that knows better may read it anyway.
    with BcapReader(str(path), expect_fingerprint=None) as reader:
        assert list(reader.records()) == [b"x"]


def test_every_truncation_is_reported_at_the_cut(tmp_path: Path) -> None:
    path = tmp_path / "c.bcap"
    _write(path, [_records(4, 3), _records(2, 4)])
    data = path.read_bytes()
    cut = tmp_path / "cut.bcap"
    for size in range(len(data)):
        cut.write_bytes(data[:size])
        with pytest.raises(bcap.BcapError) as caught, BcapReader(str(cut)) as reader:
            list(reader.batches())
        assert caught.value.reference in ("bcap-corrupt", "bcap-unreadable"), size
        if size >= 12:
            offset = int((caught.value.where or "").rsplit(" ", 1)[1])
            assert offset <= size, (size, caught.value.where)


def test_a_cut_capture_still_yields_its_complete_batches(tmp_path: Path) -> None:
    path = tmp_path / "c.bcap"
    batches = [_records(4, 5), _records(6, 6)]
    _write(path, batches)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 5])  # into the trailer
    got: list[list[bytes]] = []
    with BcapReader(str(path)) as reader, pytest.raises(bcap.BcapCorruptError) as caught:
        got.extend(reader.batches())
    assert got == batches
    assert "TAIL" in caught.value.message


def test_a_flipped_bit_is_a_checksum_error_naming_the_block(tmp_path: Path) -> None:
    path = tmp_path / "c.bcap"
    _write(path, [_records(20, 7)])
    data = bytearray(path.read_bytes())
    with BcapReader(str(path)) as reader:
        list(reader.batches())
    head_len = int.from_bytes(data[16:20], "little")
    snap_at = 12 + 12 + head_len
    snap_len = int.from_bytes(data[snap_at + 4 : snap_at + 8], "little")
    recs_at = snap_at + 12 + snap_len
    assert data[recs_at : recs_at + 4] == b"RECS"
    data[recs_at + 40] ^= 0x10
    path.write_bytes(bytes(data))
    with BcapReader(str(path)) as reader, pytest.raises(bcap.BcapCorruptError) as caught:
        list(reader.batches())
    assert caught.value.where == f"{path}:byte {recs_at}"
    assert "checksum" in caught.value.message


def test_other_files_are_refused_with_our_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.bcap"
    with pytest.raises(bcap.BcapError) as caught:
        BcapReader(str(missing))
    assert caught.value.reference == "bcap-unreadable"
    text = tmp_path / "text.bcap"
    text.write_text("hello, this is not a capture\n")
    with pytest.raises(bcap.BcapError) as caught:
        BcapReader(str(text))
    assert caught.value.reference == "bcap-unreadable"
    assert not bcap.is_bcap(str(text))
    future = tmp_path / "future.bcap"
    future.write_bytes(bcap.MAGIC + (99).to_bytes(4, "little"))
    with pytest.raises(bcap.BcapVersionError):
        BcapReader(str(future))
    good = tmp_path / "good.bcap.gz"
    _write(good, [])
    assert bcap.is_bcap(str(good))


def test_a_huge_batch_is_split_under_the_block_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bcap, "MAX_BLOCK", 3000)
    batch = [bytes([i]) * 290 for i in range(25)]
    path = tmp_path / "c.bcap"
    trailer = _write(path, [batch])
    assert trailer.batches > 1
    with BcapReader(str(path)) as reader:
        assert list(reader.records()) == batch
