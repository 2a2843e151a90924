"""Truncated, bit-flipped and lying .scap files raise ScapFormatError with an offset, or read."""

from __future__ import annotations

import gzip
import io
import re
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.sensor.capture import FdList, ProcessList, RawEvent, ScapFormatError, open_scap
from bastion.sensor.capture.scap_decode import decode_event, iter_events
from bastion.sensor.capture.scap_events import EVENTS
from bastion_testing import shared_data

CAPTURES = shared_data.shared_path(*shared_data.CAPTURES)
needs_captures = shared_data.needs(*shared_data.CAPTURES)
WHERE = re.compile(r"<stream>:byte \d+")


def plain(name: str) -> bytes:
    raw = (CAPTURES / name).read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


SMALL = plain("test_ipv6_client.scap") if CAPTURES.is_dir() else b""


def read_all(data: bytes) -> int:
    """Iterate everything; return the number of blocks, or raise ScapFormatError (checked)."""
    try:
        scap = open_scap(io.BytesIO(data))
        return sum(1 for _ in scap.blocks())
    except ScapFormatError as exc:
        error = exc
    assert error.reference == "scap-corrupt"
    assert error.where is not None
    assert WHERE.fullmatch(error.where), error.where
    assert error.message
    return -1


@needs_captures
@pytest.mark.parametrize("name", ["test_ipv6_client.scap", "old_test_empty.scap"])
def test_truncation_at_every_97th_byte(name: str) -> None:
    data = plain(name)
    outcomes = [read_all(data[:cut]) for cut in range(0, len(data), 97)]
    assert outcomes.count(-1) > len(outcomes) // 2


@needs_captures
def test_truncated_gzip_is_reported() -> None:
    raw = (CAPTURES / "cat_write.scap").read_bytes()
    for cut in range(0, len(raw), 97):
        assert read_all(raw[:cut]) == -1


@needs_captures
@settings(
    max_examples=2000,
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    st.lists(
        st.tuples(st.one_of(st.integers(0, 4000), st.integers(0, 81379)), st.integers(1, 255)),
        min_size=1,
        max_size=6,
    )
)
def test_random_byte_flips(flips: list[tuple[int, int]]) -> None:
    data = bytearray(SMALL)
    for at, mask in flips:
        data[at % len(data)] ^= mask
    read_all(bytes(data))


def block(btype: int, body: bytes, total: int | None = None) -> bytes:
    size = 12 + len(body) if total is None else total
    return struct.pack("<II", btype, size) + body + struct.pack("<I", size)


SHB = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 2, -1))


def event_v2(nparams: int, lens: list[int], payload: bytes) -> bytes:
    hdr_len = 26 + 2 * len(lens) + len(payload)
    body = struct.pack("<HQQIHI", 0, 1, 2, hdr_len, 3, nparams)
    body += struct.pack(f"<{len(lens)}H", *lens) + payload
    body += b"\0" * (-len(body) % 4)
    return block(0x216, body)


def error_of(data: bytes) -> ScapFormatError:
    with pytest.raises(ScapFormatError) as info:
        list(open_scap(io.BytesIO(data)).blocks())
    return info.value


def test_good_synthetic_event_decodes() -> None:
    events = list(open_scap(io.BytesIO(SHB + event_v2(2, [1, 2], b"abc"))).events())
    assert [(e.ts, e.tid, e.type, e.params) for e in events] == [(1, 2, 3, (b"a", b"bc"))]


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (SHB + struct.pack("<II", 0x216, 0) + b"\0" * 8, 32),  # zero length: no hang
        (SHB + struct.pack("<II", 0x216, 4000) + b"\0" * 8, 32),  # longer than the file
        (SHB + block(0x216, b"\0" * 8, 20)[:-4] + struct.pack("<I", 24), 44),  # trailer lies
        (SHB + event_v2(70000, [1], b"a"), 60),  # nparams lies
        (SHB + event_v2(2, [1, 900], b"abc"), 69),  # a parameter length lies
        (SHB + b"\x04\x02", 28),  # half a block header
    ],
)
def test_lying_lengths_name_the_offset(data: bytes, offset: int) -> None:
    assert error_of(data).where == f"<stream>:byte {offset}"


def test_bad_magic_and_huge_string_length() -> None:
    bad = SHB[:8] + b"\0\0\0\0" + SHB[12:]
    assert error_of(bad).where == "<stream>:byte 8"
    entry = struct.pack("<qqq", 1, 1, 0) + struct.pack("<H", 5000)
    body = entry + b"\0" * (-len(entry) % 4)
    exc = error_of(SHB + block(0x202, body))
    assert "comm length 5000" in exc.message
    assert exc.where == f"<stream>:byte {28 + 8 + 24}"


def test_unknown_block_is_skipped() -> None:
    blocks = list(open_scap(io.BytesIO(SHB + block(0x7777, b"abcd"))).blocks())
    assert len(blocks) == 2


def event_block(
    btype: int, params: list[bytes], *, flags: int | None, v2: bool, large: bool
) -> bytes:
    width = "I" if large else "H"
    lens = struct.pack(f"<{len(params)}{width}", *(len(p) for p in params))
    header = 26 if v2 else 22
    length = header + len(lens) + sum(len(p) for p in params)
    body = struct.pack("<H", 5) + (b"" if flags is None else struct.pack("<I", flags))
    body += struct.pack("<QQIH", 100, 7, length, 9)
    body += struct.pack("<I", len(params)) if v2 else b""
    body += lens + b"".join(params)
    return block(btype, body + b"\0" * (-len(body) % 4))


@pytest.mark.parametrize(
    ("btype", "flags", "v2", "large"),
    [
        (0x204, None, False, False),  # EV: nparams inferred from the lengths
        (0x208, 0x5A, False, False),  # EVF
        (0x216, None, True, False),  # EV_V2
        (0x217, 0x5A, True, False),  # EVF_V2
        (0x221, None, True, True),  # EV_V2_LARGE: 32-bit parameter lengths
        (0x222, 0x5A, True, True),  # EVF_V2_LARGE
    ],
)
def test_every_event_block_variant(btype: int, flags: int | None, v2: bool, large: bool) -> None:
    params = [b"x" * 3, b"", b"yz", b"\0" * 8]
    data = SHB + event_block(btype, params, flags=flags, v2=v2, large=large)
    (event,) = open_scap(io.BytesIO(data)).events()
    assert (event.ts, event.tid, event.cpu, event.type) == (100, 7, 5, 9)
    assert event.flags == (flags or 0)
    assert event.params == tuple(params)


def test_v1_event_without_params() -> None:
    (event,) = open_scap(
        io.BytesIO(SHB + event_block(0x204, [], flags=None, v2=False, large=False))
    ).events()
    assert event.params == ()


def test_big_endian_section() -> None:
    shb_body = struct.pack(">IHHq", 0x1A2B3C4D, 1, 2, -1)
    shb = struct.pack(">II", 0x0A0D0D0A, 28) + shb_body + struct.pack(">I", 28)
    body = struct.pack(">HQQIHI", 1, 2, 3, 26 + 2 + 1, 4, 1) + struct.pack(">H", 1) + b"z"
    body += b"\0" * (-len(body) % 4)
    ev = struct.pack(">II", 0x216, 12 + len(body)) + body + struct.pack(">I", 12 + len(body))
    scap = open_scap(io.BytesIO(shb + ev))
    assert scap.header.big_endian
    (event,) = scap.events()
    assert (event.cpu, event.ts, event.tid, event.type, event.params) == (1, 2, 3, 4, (b"z",))


def pstr(value: bytes) -> bytes:
    return struct.pack("<H", len(value)) + value


def test_v9_process_entry_with_tail_and_unknown_trailing_bytes() -> None:
    entry = struct.pack("<qqqqq", 42, 40, 1, 40, 40)
    entry += pstr(b"bash") + pstr(b"/bin/bash") + pstr(b"/usr/bin/bash") + pstr(b"-c\0ls\0")
    entry += pstr(b"/tmp") + struct.pack("<qIII", 1024, 0, 1000, 1000)
    entry += struct.pack("<IIIQQ", 1, 2, 3, 4, 5) + pstr(b"A=1\0B=2\0")
    entry += struct.pack("<qq", 1, 1) + pstr(b"cpu=/x\0") + pstr(b"/")
    entry += struct.pack("<QI", 77, 5)  # pidns_init_start_ts, tty (libs >= 0.10)
    entry += struct.pack("<IBQQQ", 1000, 1, 0xA, 0xB, 0xC) + b"future-field"
    record = struct.pack("<I", 4 + len(entry)) + entry
    body = record + b"\0" * (-len(record) % 4)
    _, plist = open_scap(io.BytesIO(SHB + block(0x215, body))).blocks()
    assert isinstance(plist, ProcessList)
    assert plist.version == 9
    (thread,) = plist.threads
    assert (thread.tid, thread.pid, thread.sid, thread.vpgid) == (42, 40, 40, 40)
    assert (thread.comm, thread.exepath, thread.args) == ("bash", "/usr/bin/bash", ("-c", "ls"))
    assert (thread.env, thread.cgroups, thread.root) == (("A=1", "B=2"), ("cpu=/x",), "/")
    assert (thread.pidns_init_start_ts, thread.tty, thread.loginuid) == (77, 5, 1000)
    assert (thread.exe_writable, thread.cap_effective) == (True, 0xC)


def test_fd_list_v2_skips_unknown_types_and_decodes_sockets() -> None:
    v4 = struct.pack("<qQB", 3, 9, 3) + bytes([10, 0, 0, 1, 10, 0, 0, 2])
    v4 += struct.pack("<HHB", 1234, 80, 2)
    odd = struct.pack("<qQB", 4, 0, 99) + b"opaque!"
    entries = b"".join(struct.pack("<I", 4 + len(e)) + e for e in (v4, odd))
    body = struct.pack("<q", 42) + entries
    body += b"\0" * (-len(body) % 4)
    (_, fdl) = open_scap(io.BytesIO(SHB + block(0x218, body))).blocks()
    assert isinstance(fdl, FdList)
    sock, unknown = fdl.fds
    assert (sock.tid, sock.fd, sock.sip, sock.sport, sock.dip, sock.dport) == (
        42, 3, "10.0.0.1", 1234, "10.0.0.2", 80,
    )  # fmt: skip
    assert (unknown.fd, unknown.type) == (4, 99)


# --- typed decoding ---------------------------------------------------------------------------

DECODE_SAMPLE = plain("curl_google.scap") if CAPTURES.is_dir() else b""
EVENT_CODES = [*sorted(EVENTS), 0x7FF0]  # every known code and one unknown one


def decode_all(data: bytes) -> int:
    """Decode every event; return the count, or -1 after checking the ScapFormatError."""
    try:
        return sum(1 for _ in iter_events(open_scap(io.BytesIO(data))))
    except ScapFormatError as exc:
        error = exc
    assert error.reference == "scap-corrupt"
    assert error.where is not None
    assert WHERE.fullmatch(error.where), error.where
    return -1


@needs_captures
@settings(
    max_examples=300,
    deadline=3000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    st.lists(
        st.tuples(st.integers(0, len(DECODE_SAMPLE) or 1), st.integers(1, 255)),
        min_size=1,
        max_size=8,
    )
)
def test_random_byte_flips_while_decoding(flips: list[tuple[int, int]]) -> None:
    data = bytearray(DECODE_SAMPLE)
    for at, mask in flips:
        data[at % len(data)] ^= mask
    decode_all(bytes(data))


@settings(max_examples=3000, deadline=1000)
@given(
    st.sampled_from(EVENT_CODES),
    st.lists(st.binary(max_size=48), max_size=12),
)
def test_arbitrary_parameter_bytes_decode_or_raise_format_error(
    code: int, params: list[bytes]
) -> None:
    raw = RawEvent(ts=1, tid=2, cpu=0, type=code, flags=0, params=tuple(params))
    try:
        event = decode_event(raw, 1)
    except ScapFormatError as exc:
        error = exc
    else:
        assert set(event.params) <= set(event.specs)
        return
    assert error.reference == "scap-corrupt"
    assert error.where == "event 1"


@needs_captures
def test_every_event_with_one_truncated_parameter_is_reported() -> None:
    """Shorten one fixed-size parameter of real events: always a format error with its offset."""
    scap = open_scap(io.BytesIO(DECODE_SAMPLE))
    raws = list(scap.events())
    checked = 0
    for num, raw in enumerate(raws, start=1):
        info = EVENTS.get(raw.type)
        if info is None:
            continue
        for index, blob in enumerate(raw.params[: len(info.params)]):
            if info.params[index].type in ("FD", "ERRNO", "PID", "UINT64", "INT64") and blob:
                broken = list(raw.params)
                broken[index] = blob[:-1]
                mangled = RawEvent(
                    ts=raw.ts, tid=raw.tid, cpu=raw.cpu, type=raw.type, flags=0,
                    params=tuple(broken),
                )  # fmt: skip
                with pytest.raises(ScapFormatError, match=f"parameter {index} "):
                    decode_event(mangled, num)
                checked += 1
                break
    assert checked > 1000
