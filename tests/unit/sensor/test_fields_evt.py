"""evt.* and syscall.type on hand-built events."""

from __future__ import annotations

import errno
import importlib.util

import pytest

from bastion.sensor.events.model import ParamSpec
from bastion.sensor.fields import FieldRegistry
from bastion.sensor.state.model import Fd, FdType
from bastion_testing.sensor_fakes import MISSING, FakeState, event, family, get, matches

O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_F_CREATED = 1, 2, 3, 4, 1 << 14
HAS_RENDER = importlib.util.find_spec("bastion.sensor.events.render") is not None


def test_plain_event_fields() -> None:
    state = FakeState()
    evt = event("openat", {"fd": 3, "name": "/etc/passwd"}, res=3)
    assert get(state, "evt.num", evt) == 7
    assert get(state, "evt.type", evt) == "openat"
    assert get(state, "syscall.type", evt) == "openat"
    assert get(state, "evt.dir", evt) == "<"
    assert get(state, "evt.category", evt) == "file"
    assert get(state, "evt.cpu", evt) == 3
    assert get(state, "evt.rawtime", evt) == 1_700_000_000_123_456_789
    assert get(state, "evt.rawtime.s", evt) == 1_700_000_000
    assert get(state, "evt.rawtime.ns", evt) == 123_456_789
    assert get(state, "evt.time.iso8601", evt) == "2023-11-14T22:13:20.123456789+0000"
    assert str(get(state, "evt.time", evt)).endswith(":20.123456789")
    assert str(get(state, "evt.datetime.s", evt)).endswith(":20")
    assert get(state, "evt.source", evt) == "syscall"
    assert get(state, "evt.type.is.openat", evt) == 1
    assert get(state, "evt.type.is.open", evt) == 0
    assert get(state, "syscall.type", event("procexit")) is MISSING


@pytest.mark.parametrize(
    ("res", "text", "failed"),
    [(3, "SUCCESS", False), (0, "SUCCESS", False), (-errno.ENOENT, "ENOENT", True)],
)
def test_result_fields(res: int, text: str, failed: bool) -> None:
    state = FakeState()
    evt = event("openat", {"fd": res}, res=res)
    assert get(state, "evt.res", evt) == text
    assert get(state, "evt.rawres", evt) == res
    assert get(state, "evt.failed", evt) is failed


def test_events_without_a_result() -> None:
    state = FakeState()
    evt = event("procexit", {})
    assert get(state, "evt.res", evt) is MISSING
    assert get(state, "evt.rawres", evt) is MISSING
    assert get(state, "evt.failed", evt) is False


def test_arguments_by_name_index_and_raw() -> None:
    state = FakeState()
    specs = {
        "fd": ParamSpec("fd", "FD"),
        "dirfd": ParamSpec("dirfd", "FD"),
        "name": ParamSpec("name", "FSRELPATH"),
        "mode": ParamSpec("mode", "UINT32"),
    }
    evt = event("openat", {"fd": 3, "dirfd": -100, "name": "x", "mode": 0o644}, specs=specs)
    assert get(state, "evt.rawarg.mode", evt) == 0o644
    assert get(state, "evt.rawarg.fd", evt) == 3
    assert get(state, "evt.arg.name", evt) == "x"
    assert get(state, "evt.arg", evt, "2") == "x"
    assert get(state, "evt.arg.nosuch", evt) is MISSING
    assert get(state, "evt.arg", evt, "9") is MISSING
    if not HAS_RENDER:  # the fallback renders the value as text
        assert get(state, "evt.arg.mode", evt) == str(0o644)
        assert get(state, "evt.args", evt) == "fd=3 dirfd=-100 name=x mode=420"
    assert matches(state, "evt.rawarg.mode > 400", evt)
    registry = FieldRegistry(state)
    assert registry.resolve("evt.arg", None) is None
    assert registry.resolve("evt.arg.flags", "1") is None


@pytest.mark.parametrize(
    ("flags", "read", "write", "create"),
    [
        (O_RDONLY, True, False, False),
        (O_WRONLY, False, True, False),
        (O_RDWR | O_CREAT | O_F_CREATED, True, True, True),
    ],
)
def test_open_kinds(flags: int, read: bool, write: bool, create: bool) -> None:
    state = FakeState()
    evt = event("openat", {"fd": 3, "name": "/x", "flags": flags, "mode": 0o755}, res=3)
    assert get(state, "evt.is_open_read", evt) is read
    assert get(state, "evt.is_open_write", evt) is write
    assert get(state, "evt.is_open_create", evt) is create
    assert get(state, "evt.is_open_exec", evt) is bool(flags & O_CREAT)
    other = event("read", {"flags": flags})
    assert get(state, "evt.is_open_read", other) is False


def test_abspath_joins_dirfd_or_cwd() -> None:
    state, py = family()
    py.fds[5] = Fd(num=5, type=FdType.DIRECTORY, name="/var/lib")
    rel = event("openat", {"dirfd": -100, "name": "../etc/./shadow"}, thread=py)
    assert get(state, "evt.abspath", rel) == "/etc/shadow"
    at_fd = event("unlinkat", {"dirfd": 5, "name": "dpkg/status"}, thread=py)
    assert get(state, "evt.abspath", at_fd) == "/var/lib/dpkg/status"
    unknown_fd = event("unlinkat", {"dirfd": 9, "name": "x"}, thread=py)
    assert get(state, "evt.abspath", unknown_fd) is MISSING
    rename = event(
        "renameat2",
        {"olddirfd": -100, "oldpath": "a", "newdirfd": 5, "newpath": "/tmp/b"},
        thread=py,
    )
    assert get(state, "evt.abspath.src", rename) == "/root/a"
    assert get(state, "evt.abspath.dst", rename) == "/tmp/b"
    assert get(state, "evt.abspath", rename) is MISSING


def test_buffer_fields() -> None:
    state = FakeState()
    evt = event("write", {"data": b"hello", "fd": 1}, res=5)
    assert get(state, "evt.buffer", evt) == b"hello"
    assert get(state, "evt.buflen", evt) == 5
    assert matches(state, "evt.buffer bcontains 68656c6c6f", evt)
    assert get(state, "evt.buflen", event("close", {"fd": 1})) is MISSING


def test_hostname_honours_falco_hostname(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FALCO_HOSTNAME", "bst-test-host")
    assert get(FakeState(), "evt.hostname", event()) == "bst-test-host"
