"""The event table (events/schema.py) against the C side: bastion_events.h and x86_64 syscalls."""

from __future__ import annotations

import os
import re

import pytest

from bastion._sys.syscall_table import NR_MAX, X86_64
from bastion.sensor.events.model import ParamType
from bastion.sensor.events.schema import (
    BY_CODE,
    BY_NAME,
    EVENTS,
    EventSpec,
    LiveParamSpec,
    by_syscall,
)
from bastion.sensor.probe import header
from bastion.sensor.probe.decode import reader_for

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
    assert named <= set(X86_64), named - set(X86_64)
    newest = max(kernel.values())
    for syscall, nr in X86_64.items():
        assert nr < NR_MAX
        if nr > newest:  # newer than this header: a live test proves it (see syscalls.py)
            continue
        assert kernel.get(syscall) == nr, f"{syscall} is not x86_64 syscall {nr}"
    assert {name for name, nr in kernel.items() if nr <= newest} <= set(X86_64)


def test_each_syscall_produces_one_event() -> None:
    table = by_syscall()
    assert sum(len(e.syscalls) for e in EVENTS) == len(table)
    assert table["openat"].name == "openat"
    assert not BY_NAME["read"].default and not BY_NAME["write"].default


PROBE_C = os.path.join(os.path.dirname(header.PATH), "bastion.bpf.c")


def _probe_source() -> str:
    with open(PROBE_C) as f:
        return f.read()


def test_the_probe_writes_parameters_only_through_the_generated_sequences() -> None:
    """No event's parameters are ordered by hand in the C: every syscall event's case and
    writes come from bastion_events.h, and the scheduler programs use their BST_WRITE_*."""
    source = _probe_source()
    assert not re.search(r"case BST_EVT_[A-Z]", source)  # only BST_CASE's BST_EVT_##NAME
    assert "BST_SYSCALL_EVENTS" in source
    assert "BST_WRITE_CLONE;" in source and "BST_WRITE_PROCEXIT;" in source


def test_each_c_helper_writes_the_parameters_the_table_gives_it() -> None:
    """A helper that writes several parameters says how many (`// N parameters:` above it);
    the table's `+` continuations after its call must add up to that."""
    declared = {
        m[2]: int(m[1])
        for m in re.finditer(
            r"^// (\d+) parameters?:.*\n(?://.*\n)*__noinline int (\w+)\(", _probe_source(), re.M
        )
    }
    assert declared  # the comments are there to be read
    used: dict[str, set[int]] = {}
    for event in EVENTS:
        for i, param in enumerate(event.params):
            call = re.match(r"(p_\w+)\(", param.write)
            if call is None or call[1] not in declared:
                continue
            n = 1
            while i + n < len(event.params) and event.params[i + n].write == "+":
                n += 1
            used.setdefault(call[1], set()).add(n)
    assert {name: {count} for name, count in declared.items()} == used


def test_a_continuation_must_follow_a_c_call() -> None:
    spec = EventSpec(
        99,
        "bogus",
        "file",
        (LiveParamSpec("res", ParamType.ERRNO, write="ret"), LiveParamSpec("x", "FD", write="+")),
    )
    with pytest.raises(ValueError, match="must follow a C call"):
        header.c_writes(spec)


def test_writer_tokens_expand_to_the_probes_writers() -> None:
    assert header.c_writes(BY_NAME["openat"]) == [
        "p_s64(rp, ret)",
        "p_s64(rp, (int)a->a[0])",
        "p_ustr(rp, a->a[1])",
        "p_u32(rp, a->a[2])",
        "p_u32(rp, a->a[3])",
        "p_dev_ino(rp, ret)",
    ]


def test_loss_classes_keep_lifecycle_and_credentials_first() -> None:
    from bastion.sensor.events.schema import BY_NAME, LOSS_CLASSES

    critical = {"execve", "execveat", "clone", "procexit", "setuid", "setresgid", "capset"}
    assert all(BY_NAME[n].loss_class == "critical" for n in critical)
    assert all(BY_NAME[n].loss_class == "bulk" for n in ("openat", "close", "read", "connect"))
    assert {e.loss_class for e in BY_NAME.values()} == set(LOSS_CLASSES)
