"""`bastion events -r` on bastion captures and .scap files, through the real command line.

The bastion captures here hold records laid out as probe/bastion_record.h says (built by
`_record` from events/schema.py), so they go through the very decoder the live probe uses.
No root needed: nothing is loaded into the kernel.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

from bastion.sensor.capture.bcap import BcapHeader, BcapWriter, Snapshot
from bastion.sensor.events.model import ParamType
from bastion.sensor.events.schema import BY_NAME
from bastion.sensor.state.model import Container, Thread
from bastion_testing import shared_data

BASTION = os.path.join(os.path.dirname(sys.executable), "bastion")
CAPTURES = str(shared_data.shared_path(*shared_data.CAPTURES))
BOOT_EPOCH = 1_700_000_000 * 10**9
T = ParamType
_INTS = {
    T.ERRNO: "q",
    T.FD: "q",
    T.PID: "q",
    T.INT64: "q",
    T.UINT64: "Q",
    T.UID: "I",
    T.GID: "I",
    T.UINT32: "I",
    T.MODE: "I",
    T.FLAGS32: "I",
}


def _record(event: str, tid: int, ret: int, ts: int, cgroup_id: int = 0, **values: Any) -> bytes:
    """One probe record: header, one u16 length per parameter, the parameters' bytes."""
    spec = BY_NAME[event]
    lengths, data = [], b""
    for param in spec.params:
        value = values.get(param.name)
        if value is None:
            raw = b""
        elif param.type in _INTS:
            raw = struct.pack("<" + _INTS[param.type], value)
        else:
            raw = str(value).encode() + b"\0"
        lengths.append(len(raw))
        data += raw
    size = 40 + 2 * len(lengths) + len(data)
    head = struct.pack("<QQqIIHHHH", ts, cgroup_id, ret, tid, tid, spec.code, 1, len(lengths), size)
    return head + struct.pack(f"<{len(lengths)}H", *lengths) + data


def _capture(path: Path, *, dropped: int = 0) -> None:
    box = Container(id="c0ffee" * 8, name="web", kind="bastion", cgroup_id=77)
    snapshot = Snapshot(
        threads=[
            Thread(tid=4242, pid=4242, comm="bst-cat", exe="cat"),
            Thread(tid=5151, pid=5151, comm="bst-boxed", container_id=box.id, cgroup_id=77),
        ],
        containers=[box],
    )
    header = BcapHeader.now(boot_time_ns=BOOT_EPOCH)
    records = [
        _record("openat", 4242, 3, 10, fd=3, dirfd=-100, name="/etc/bst-test", flags=0, mode=0),
        _record("close", 4242, 0, 20, res=0, fd=3),
        _record("openat", 5151, -2, 30, 77, fd=-2, dirfd=-100, name="/nope", flags=0, mode=0),
    ]
    with BcapWriter(str(path), header, snapshot) as writer:
        writer.write_batch(records[:2])
        writer.write_batch(records[2:])
        writer.close({"produced": 3 + dropped, "dropped_ring_full": dropped, "read": 3})


def _bastion(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BASTION, *args], capture_output=True, text=True, timeout=120, check=False
    )


def _json_events(*args: str) -> list[dict[str, Any]]:
    done = _bastion("events", "-o", "json", *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_a_bastion_capture_replays_with_its_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "c.bcap"
    _capture(path)
    events = _json_events("-r", str(path))
    assert [(e["num"], e["type"], e["tid"]) for e in events] == [
        (1, "openat", 4242),
        (2, "close", 4242),
        (3, "openat", 5151),
    ]
    first = events[0]
    assert first["proc"] == "bst-cat" and first["pid"] == 4242
    assert first["ts"] == BOOT_EPOCH + 10
    assert first["params"]["name"] == "/etc/bst-test"
    assert first["res"] == 3 and first["dir"] == "<"
    assert first["container"]["id"] == "host"
    assert events[2]["container"] == {"id": "c0ffee" * 2, "name": "web"}
    assert events[2]["res"] == -2
    text = _bastion("events", "-r", str(path))
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert len(lines) == 3
    fields = lines[0].split()
    assert fields[0] == "1" and fields[2] == "1" and fields[3] == "host"
    assert fields[4:8] == ["bst-cat", "(4242)", "<", "openat"]
    assert "/etc/bst-test" in lines[0]
    assert lines[2].split()[3] == "c0ffee" * 2


def test_count_and_container_filters(tmp_path: Path) -> None:
    path = tmp_path / "c.bcap"
    _capture(path)
    assert [e["num"] for e in _json_events("-r", str(path), "-n", "2")] == [1, 2]
    boxed = _json_events("-r", str(path), "--container", "c0ffee")
    assert [e["tid"] for e in boxed] == [5151]


def test_drops_recorded_in_the_trailer_are_shown(tmp_path: Path) -> None:
    path = tmp_path / "c.bcap"
    _capture(path, dropped=5)
    done = _bastion("events", "-r", str(path))
    assert done.returncode == 0
    rows = {
        line.rsplit(None, 1)[0].strip(): line.rsplit(None, 1)[1]
        for line in done.stderr.splitlines()
        if line.startswith("  ")
    }
    assert rows["dropped (ring buffer full)"] == "5"
    assert rows["events shown"] == "3"
    assert "5 events were lost" in done.stderr


def test_a_damaged_capture_is_one_error_line(tmp_path: Path) -> None:
    path = tmp_path / "c.bcap"
    _capture(path)
    data = bytearray(path.read_bytes())
    data[-30] ^= 0xFF  # inside the trailer
    path.write_bytes(bytes(data))
    done = _bastion("events", "-r", str(path))
    assert done.returncode == 1
    assert "error[bcap-corrupt]" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stdout.splitlines()) == 3  # the intact batches came first
    other = tmp_path / "other.bin"
    other.write_bytes(b"\0" * 64)
    done = _bastion("events", "-r", str(other))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "error[unknown-capture-format]" in done.stderr


@shared_data.needs(*shared_data.CAPTURES)
def test_a_scap_file_replays_with_its_process_table() -> None:
    events = _json_events("-r", f"{CAPTURES}/cat_write.scap")
    execs = [e for e in events if e["type"] == "execve" and e["dir"] == "<" and e["proc"] == "cat"]
    assert execs, "no execve of cat"
    opens = [e for e in events if e["tid"] == execs[0]["tid"] and e["type"] in ("open", "openat")]
    assert opens and all(e["proc"] == "cat" for e in opens)


def test_records_that_lie_about_their_lengths_are_one_error_line(tmp_path: Path) -> None:
    good = _record("openat", 4242, 3, 10, fd=3, dirfd=-100, name="/x", flags=0, mode=0)
    nparams = len(BY_NAME["openat"].params)
    cut = good[: 40 + 2 * nparams + 4]  # the fd claims 8 bytes; 4 are there
    head = struct.pack(
        "<QQqIIHHHH", 10, 0, 3, 4242, 4242, BY_NAME["openat"].code, 1, nparams, len(cut)
    )
    short = head + cut[40:]
    for records in ([short], [good[:39]], [good[:40] + b"\xff" * 20]):
        path = tmp_path / "c.bcap"
        with BcapWriter(str(path), BcapHeader.now()) as writer:
            writer.write_batch(records)
        done = _bastion("events", "-r", str(path))
        assert done.returncode != 0, records
        assert "Traceback" not in done.stderr, done.stderr
        assert "error[" in done.stderr
