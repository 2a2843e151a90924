"""Falco's flag tables and renderings; kernel -> Falco conversion checked against the kernel's
own numbers (Python's os/socket/signal/errno modules and the uapi headers in /usr/include)."""

from __future__ import annotations

import errno
import os
import re
import signal
import socket
from pathlib import Path

import pytest

from bastion.sensor.capture.scap_events import EVENTS
from bastion.sensor.events import flags
from bastion.sensor.events.flags import (
    TABLES,
    errno_name,
    from_kernel,
    render_flags,
    render_mode,
    sigset_text,
)
from bastion.sensor.events.schema import EVENTS as SCHEMA

INCLUDE = Path("/usr/include")
# `#define NAME 0x10`, `#define NAME 16U`, `#define NAME (1 << 4)` and enum rows `NAME = 16,`.
DEFINE = re.compile(r"^#define\s+(\w+)\s+(0x[0-9a-fA-F]+|\d+)U?\b", re.M)
SHIFT = re.compile(r"^#define\s+(\w+)\s+\(1U?\s*<<\s*(\d+)\)", re.M)
ENUM = re.compile(r"^\s*(\w+)\s*=\s*(0x[0-9a-fA-F]+|\d+),", re.M)


def header(*names: str) -> dict[str, int]:
    """#define NAME number, from uapi headers; skips the test when they are not installed."""
    found: dict[str, int] = {}
    for name in names:
        path = INCLUDE / name
        if not path.is_file():
            pytest.skip(f"{path} is not installed")
        text = path.read_text()
        found.update((k, int(v, 0)) for k, v in ENUM.findall(text))
        found.update((k, 1 << int(v)) for k, v in SHIFT.findall(text))
        found.update((k, int(v, 0)) for k, v in DEFINE.findall(text))
    return found


def names_of(table: str, value: int) -> set[str]:
    return set(render_flags(table, value).split("|")) - {""}


def test_every_table_named_by_the_event_tables_exists() -> None:
    wanted = {p.flags for e in SCHEMA for p in e.params if p.flags}
    wanted |= {p.flags for e in EVENTS.values() for p in e.params if p.flags}
    assert wanted - set(TABLES) == set()


def test_bit_flags_clear_what_they_print_and_stop_at_an_exact_name() -> None:
    table = dict(TABLES["file_flags"])
    rdwr = table["O_RDWR"]
    assert rdwr == table["O_RDONLY"] | table["O_WRONLY"]
    assert render_flags("file_flags", rdwr) == "O_RDWR"  # not O_WRONLY|O_RDONLY
    assert render_flags("file_flags", table["O_RDONLY"]) == "O_RDONLY"
    assert render_flags("file_flags", 0) == "O_NONE"  # a zero name matches only zero
    both = table["O_RDONLY"] | table["O_CLOEXEC"]
    assert render_flags("file_flags", both) == "O_RDONLY|O_CLOEXEC"  # table order, not bit order
    assert render_flags("file_flags", 1 << 30) == ""  # bits Falco has no name for
    assert render_flags("no_such_table", 7) == ""


def test_enum_flags_print_every_name_equal_to_the_value() -> None:
    assert render_flags("socket_families", socket.AF_UNIX, enum=True) == "AF_LOCAL|AF_UNIX"
    assert render_flags("socket_families", socket.AF_INET6, enum=True) == "AF_INET6"
    assert render_flags("socket_families", 999, enum=True) == ""


def test_mode_rendering() -> None:
    table = dict(TABLES["chmod_mode"])
    value = table["S_IRUSR"] | table["S_IWUSR"] | table["S_IRGRP"]
    assert set(render_mode("chmod_mode", value).split("|")) == {"S_IRUSR", "S_IWUSR", "S_IRGRP"}
    assert render_mode("chmod_mode", table["S_ISUID"]) == "S_ISUID"
    assert render_mode("chmod_mode", 0) == ""


def test_errno_names_are_linux_names() -> None:
    assert errno_name(0) is None
    assert errno_name(5) is None  # only failures (negative returns) are errnos
    assert errno_name(-errno.ENOENT) == "ENOENT"
    assert errno_name(-512) == "ERESTARTSYS"
    for number, name in flags.ERRNO_NAMES.items():
        if number < 512 and name not in ("EDEADLK",):
            assert getattr(errno, name) == number, name


def test_signal_names_are_linux_names() -> None:
    assert len(flags.SIGNAL_NAMES) == 31
    for number, name in flags.SIGNAL_NAMES.items():
        assert getattr(signal, name, None) == number or name in ("SIGSTKFLT", "SIGPWR"), name
    mask = 1 << (signal.SIGINT - 1) | 1 << (signal.SIGTERM - 1)
    assert sigset_text(mask) == "SIGINT SIGTERM"


def test_open_flags_from_kernel_values() -> None:
    for name, _ in TABLES["file_flags"]:
        kernel = getattr(os, name, None)
        if kernel is None or (kernel == 0 and name != "O_RDONLY"):
            continue  # O_LARGEFILE is 0 in x86_64 user space
        assert name in names_of("file_flags", from_kernel("file_flags", kernel)), name
    value = from_kernel("file_flags", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC)
    assert names_of("file_flags", value) == {"O_WRONLY", "O_CREAT", "O_TRUNC", "O_CLOEXEC"}
    assert names_of("file_flags", from_kernel("file_flags", os.O_RDWR)) == {"O_RDWR"}


@pytest.mark.parametrize(
    ("table", "headers", "prefix"),
    [
        ("clone_flags", ("linux/sched.h",), ""),
        ("openat2_flags", ("linux/openat2.h",), ""),
        ("execveat_flags", ("linux/fcntl.h",), ""),
        ("fchownat_flags", ("linux/fcntl.h",), ""),
        ("unlinkat_flags", ("linux/fcntl.h",), ""),
        ("linkat_flags", ("linux/fcntl.h",), ""),
        ("umount_flags", ("x86_64-linux-gnu/sys/mount.h",), "MNT_"),
        ("mount_flags", ("linux/mount.h",), "MS_"),
        ("memfd_create_flags", ("linux/memfd.h",), ""),
        ("renameat2_flags", ("linux/fs.h",), ""),
    ],
)
def test_bit_tables_from_kernel_values(table: str, headers: tuple[str, ...], prefix: str) -> None:
    kernel = header(*headers)
    checked = 0
    for name, _ in TABLES[table]:
        value = kernel.get(prefix + name) or kernel.get(name)
        if name == "NOFOLLOW":
            value = kernel.get("UMOUNT_NOFOLLOW")
        if not value:
            continue
        assert name in names_of(table, from_kernel(table, value)), name
        checked += 1
    assert checked == sum(1 for _ in TABLES[table]) or checked >= 3


def test_mount_flags_drop_the_magic() -> None:
    kernel = header("linux/mount.h")
    value = 0xC0ED0000 | kernel["MS_RDONLY"] | kernel["MS_BIND"]
    assert names_of("mount_flags", from_kernel("mount_flags", value)) == {"RDONLY", "BIND"}


def test_ptrace_requests_from_kernel_values() -> None:
    kernel = header("linux/ptrace.h", "x86_64-linux-gnu/asm/ptrace-abi.h")
    checked = 0
    for name, _ in TABLES["ptrace_requests"]:
        if name in kernel:
            converted = from_kernel("ptrace_requests", kernel[name])
            assert render_flags("ptrace_requests", converted, enum=True) == name
            checked += 1
    assert checked >= 30
    unknown = from_kernel("ptrace_requests", 0x7777)
    assert render_flags("ptrace_requests", unknown, enum=True) == "PTRACE_UNKNOWN"


def test_identity_tables_agree_with_the_kernel() -> None:
    prctl = header("linux/prctl.h")
    for name, value in TABLES["prctl_options"]:
        assert prctl[name] == value == from_kernel("prctl_options", value), name
    for name, value in TABLES["socket_families"]:
        if hasattr(socket, name):
            assert getattr(socket, name) == value, name
