"""The event table (events/schema.py) against the C side: bastion_events.h and x86_64 syscalls."""

from __future__ import annotations

import re

import pytest

from bastion.sensor.events.model import ParamType
from bastion.sensor.events.schema import BY_CODE, BY_NAME, EVENTS, by_syscall
from bastion.sensor.probe import header
from bastion.sensor.probe.decode import reader_for
from bastion.sensor.probe.syscalls import NR_MAX, X86_64

UNISTD = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
MAX_PARAMS = 32  # BST_MAX_PARAMS in bastion_record.h


def _defines(text: str, prefix: str) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(rf"^#define {prefix}(\w+) (\d+)$", text, re.M)}


def test_checked_in_header_is_generated_from_the_table() -> None:
    with open(header.PATH) as f:
        text = f.read()
    assert text == header.render(), "run: python -m bastion.sensor.probe.header"


def test_header_codes_and_param_counts_match_the_table() -> None:
    with open(header.PATH) as f:
        text = f.read()
    codes = _defines(text, "BST_EVT_")
    counts = _defines(text, "BST_NPARAMS_")
    max_code = codes.pop("MAX")
    assert {name.lower(): code for name, code in codes.items()} == {e.name: e.code for e in EVENTS}
    assert {name.lower(): n for name, n in counts.items()} == {
        e.name: len(e.params) for e in EVENTS
    }
    assert max_code == max(BY_CODE) + 1


def test_codes_are_unique_and_fit_the_record() -> None:
    assert len(BY_CODE) == len(EVENTS) == len(BY_NAME)
    assert all(0 < e.code < 1 << 16 for e in EVENTS)  # bst_hdr.code is a __u16
    assert all(len(e.params) < MAX_PARAMS for e in EVENTS)


def test_every_param_type_has_a_wire_encoding() -> None:
    for event in EVENTS:
        for param in event.params:
            reader_for(param)  # raises RecordError for a type the probe cannot encode


def test_return_value_comes_first_for_syscall_events() -> None:
    for event in EVENTS:
        if event.syscalls:
            first = event.params[0]
            assert first.name in ("res", "fd"), event.name
            assert first.type in (ParamType.ERRNO, ParamType.FD), event.name


def test_every_syscall_exists_on_x86_64_with_our_number() -> None:
    try:
        with open(UNISTD) as f:
            kernel = _defines(f.read(), "__NR_")
    except FileNotFoundError:
        pytest.skip(f"{UNISTD} is missing (Debian package linux-libc-dev)")
    named = {s for e in EVENTS for s in e.syscalls}
    assert named == set(X86_64)
    for syscall in sorted(named):
        assert syscall in kernel, f"{syscall} is not an x86_64 syscall"
        assert X86_64[syscall] == kernel[syscall], syscall
        assert X86_64[syscall] < NR_MAX


def test_each_syscall_produces_one_event() -> None:
    table = by_syscall()
    assert sum(len(e.syscalls) for e in EVENTS) == len(table)
    assert table["openat"].name == "openat"
    assert not BY_NAME["read"].default and not BY_NAME["write"].default
