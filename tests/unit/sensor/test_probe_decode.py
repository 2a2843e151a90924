"""The probe's record decoder on records built by hand from bastion_record.h's layout."""

from __future__ import annotations

import ipaddress
import socket
import struct
import time
from collections.abc import Callable

import pytest

from bastion.sensor.events.model import Event, SockAddr, SockTuple
from bastion.sensor.events.schema import BY_NAME
from bastion.sensor.probe.decode import (
    HEADER,
    Decoder,
    RecordError,
    _decoder_code,
    boot_epoch_ns,
    clone_flags_to_ppm,
    decoder_source,
    open_flags_to_ppm,
)

EPOCH = 1_700_000_000_000_000_000


def record(
    name: str, params: list[bytes], *, ret: int = 0, tid: int = 7, tgid: int = 5, cgroup: int = 9
) -> bytes:
    """One record as the probe writes it: header, u16 lengths, then the data."""
    spec = BY_NAME[name]
    assert len(params) == len(spec.params)
    body = struct.pack(f"<{len(params)}H", *(len(p) for p in params)) + b"".join(params)
    size = HEADER.size + len(body)
    head = HEADER.pack(1000, cgroup, ret, tid, tgid, spec.code, 1, len(params), size)
    return head + body


def s64(v: int) -> bytes:
    return struct.pack("<q", v)


def u32(v: int) -> bytes:
    return struct.pack("<I", v)


def u64(v: int) -> bytes:
    return struct.pack("<Q", v)


def test_openat_fields_types_and_header() -> None:
    raw = record(
        "openat",
        [
            s64(3),
            s64(-100),
            b"/etc/passwd\0",
            u32(0o2000000 | 0o100 | 1),
            u32(0o644),
            u32(2049),
            u64(1234),
        ],
        ret=3,
    )
    decoder = Decoder(boot_epoch=EPOCH)
    (event,) = decoder.decode([raw])
    assert event.num == 1
    assert event.ts == EPOCH + 1000
    assert (event.tid, event.pid, event.cpu, event.cgroup_id) == (7, 5, 1, 9)
    assert (event.type, event.dir, event.category, event.res) == ("openat", "<", "file", 3)
    assert event.params == {
        "fd": 3,
        "dirfd": -100,
        "name": "/etc/passwd",
        "flags": (1 << 1) | (1 << 2) | (1 << 12),  # PPM_O_WRONLY | PPM_O_CREAT | PPM_O_CLOEXEC
        "mode": 0o644,
        "dev": 2049,
        "ino": 1234,
    }
    assert event.specs is BY_NAME["openat"].specs


def test_missing_params_are_left_out_and_numbers_run_on() -> None:
    raw = record("openat", [s64(-2), s64(-100), b"/nope\0", u32(0), u32(0), b"", b""], ret=-2)
    decoder = Decoder(boot_epoch=EPOCH)
    first, second = decoder.decode([raw, raw])
    assert "dev" not in first.params and "ino" not in first.params
    assert first.params["flags"] == 1  # O_RDONLY is a bit in Falco's encoding
    assert (first.num, second.num) == (1, 2)
    (third,) = decoder.decode([raw])
    assert third.num == 3


def test_strings_keep_undecodable_bytes_and_arrays_split() -> None:
    argv = b"-c\0echo \xff\0"
    params = [s64(0), b"sh\0", argv] + [b""] * (len(BY_NAME["execve"].params) - 3)
    (event,) = Decoder(boot_epoch=EPOCH).decode([record("execve", params)])
    assert event.params["exe"] == "sh"
    assert event.params["args"] == ("-c", "echo \udcff")
    assert event.params["args"][1].encode("utf-8", "surrogateescape") == b"echo \xff"


def test_sockaddr_and_socktuple_become_objects() -> None:
    sin = struct.pack("<H", socket.AF_INET) + struct.pack(">H", 8080) + bytes([127, 0, 0, 1])
    tup = (
        bytes([socket.AF_INET])
        + bytes([127, 0, 0, 1])
        + struct.pack("<H", 40000)
        + bytes([127, 0, 0, 2])
        + struct.pack("<H", 8080)
    )
    raw = record("connect", [s64(0), tup, s64(4), sin + b"\0" * 8])
    (event,) = Decoder(boot_epoch=EPOCH).decode([raw])
    assert event.params["addr"] == SockAddr("inet", ipaddress.IPv4Address("127.0.0.1"), 8080)
    assert event.params["tuple"] == SockTuple(
        "inet",
        ipaddress.IPv4Address("127.0.0.1"),
        40000,
        ipaddress.IPv4Address("127.0.0.2"),
        8080,
    )
    assert str(event.params["tuple"]) == "127.0.0.1:40000->127.0.0.2:8080"


def test_ipv6_and_unix_sockets() -> None:
    sin6 = (
        struct.pack("<H", socket.AF_INET6)
        + struct.pack(">H", 443)
        + b"\0" * 4
        + ipaddress.IPv6Address("::1").packed
        + b"\0" * 4
    )
    six = (
        bytes([socket.AF_INET6])
        + ipaddress.IPv6Address("::1").packed
        + struct.pack("<H", 1)
        + ipaddress.IPv6Address("::2").packed
        + struct.pack("<H", 2)
    )
    (event,) = Decoder(boot_epoch=EPOCH).decode([record("connect", [s64(0), six, s64(4), sin6])])
    assert event.params["addr"] == SockAddr("inet6", ipaddress.IPv6Address("::1"), 443)
    tup = event.params["tuple"]
    assert isinstance(tup, SockTuple)
    assert (tup.family, tup.source, tup.sport, tup.dest, tup.dport) == (
        "inet6",
        ipaddress.IPv6Address("::1"),
        1,
        ipaddress.IPv6Address("::2"),
        2,
    )
    unix_addr = struct.pack("<H", socket.AF_UNIX) + b"\0abstract\0"
    unix_tuple = bytes([socket.AF_UNIX]) + b"\0/run/x.sock\0"
    (event,) = Decoder(boot_epoch=EPOCH).decode(
        [record("connect", [s64(0), unix_tuple, s64(4), unix_addr])]
    )
    assert event.params["addr"] == SockAddr("unix", path="@abstract")
    assert event.params["tuple"] == SockTuple("unix", source_path="", dest_path="/run/x.sock")


def test_procexit_has_no_res_and_clone_flags_are_falcos() -> None:
    (exit_event,) = Decoder(boot_epoch=EPOCH).decode(
        [record("procexit", [s64(256), s64(1), b"\0", b"\0", b""])]
    )
    assert exit_event.res is None
    assert exit_event.params == {"status": 256, "ret": 1, "sig": 0, "core": 0}
    assert clone_flags_to_ppm(0x10000 | 0x100) == (1 << 13) | (1 << 15)
    assert open_flags_to_ppm(2 | 0o1000) == 3 | (1 << 8)  # O_RDWR | O_TRUNC


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[:30],  # shorter than a header
        lambda raw: raw[:24] + struct.pack("<IIHHHH", 7, 5, 60000, 1, 2, len(raw)) + raw[40:],
        lambda raw: raw[:-4],  # size says more than there is
    ],
)
def test_broken_records_raise_record_error(damage: object) -> None:
    raw = record("close", [s64(0), s64(3)])
    assert callable(damage)
    with pytest.raises(RecordError) as info:
        Decoder(boot_epoch=EPOCH).decode([damage(raw)])
    assert info.value.reference == "probe-record-invalid"


def test_boot_epoch_matches_the_clocks() -> None:
    estimate = boot_epoch_ns() + time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    assert abs(estimate - time.time_ns()) < 50_000_000


def test_decode_cost_per_event() -> None:
    """Decoding an openat costs a few bare `Event()` constructions (3.5-3.9 us here, ~4x;
    issue target 4 us); compared with that baseline so a loaded host does not fail the test."""
    raw = record(
        "openat",
        [
            s64(3),
            s64(-100),
            b"/usr/lib/x86_64-linux-gnu/libc.so.6\0",
            u32(0o2000000),
            u32(0),
            u32(2049),
            u64(1234),
        ],
        ret=3,
    )
    batch = [raw] * 4096
    decoder = Decoder(boot_epoch=EPOCH)
    decode, baseline = float("inf"), float("inf")
    for _ in range(12):  # interleaved, best of each: load spikes on a shared host hit both
        decode = min(decode, _timed(lambda: decoder.decode(batch)))
        baseline = min(baseline, _timed(lambda: _bare_events(len(batch))))
    assert decode < 6 * baseline, f"{decode / len(batch) * 1e6:.2f} us/event"


def _bare_events(n: int) -> list[Event]:
    return [
        Event(
            num=i,
            ts=0,
            cpu=0,
            tid=1,
            pid=1,
            type="openat",
            dir="<",
            category="file",
            params={},
            specs={},
            res=0,
            cgroup_id=0,
        )
        for i in range(n)
    ]


def _timed(work: Callable[[], object]) -> float:
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


def test_the_decoder_source_is_the_code_that_runs() -> None:
    """`decoder_source` shows the exec-built decoder: compiled with the readers it names, it
    decodes a record as the live decoder does."""
    source = decoder_source("openat")
    assert "# r3: flags (FLAGS32, Falco's file_flags encoding), reader" in source
    raw = record(
        "openat",
        [s64(3), s64(-100), b"/etc/hosts\0", u32(0o2000000), u32(0), u32(2049), u64(77)],
        ret=3,
    )
    code, env = _decoder_code(BY_NAME["openat"])
    assert source.endswith(code)
    exec(compile(source, "<shown>", "exec"), env)
    decode = env["decode"]
    assert callable(decode)
    params, _end = decode(raw)
    assert params == Decoder(boot_epoch=EPOCH).decode([raw])[0].params
    with pytest.raises(KeyError):
        decoder_source("no_such_event")


def test_bastion_events_decoder_source(capsys: pytest.CaptureFixture[str]) -> None:
    from bastion.cli.front.main import main

    assert main(["events", "--decoder-source", "connect"]) == 0
    assert capsys.readouterr().out == decoder_source("connect")
    assert main(["events", "--decoder-source", "frob"]) == 2
    assert "no event 'frob'" in capsys.readouterr().err
