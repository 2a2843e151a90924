"""fd.* on files, sockets and events without an fd."""

from __future__ import annotations

import ipaddress

import pytest

from bastion.sensor.state.model import Fd, FdType
from bastion_testing.sensor_fakes import MISSING, event, family, get, matches

CLIENT = ipaddress.ip_address("10.0.0.5")
SERVER = ipaddress.ip_address("127.0.0.1")


def _socket(*, is_server: bool) -> Fd:
    return Fd(
        num=4,
        type=FdType.IPV4,
        name="10.0.0.5:40000->127.0.0.1:8080",
        l4proto="tcp",
        client=CLIENT,
        cport=40000,
        server=SERVER,
        sport=8080,
        is_server=is_server,
    )


def test_file_fd() -> None:
    state, py = family()
    fd = Fd(num=3, type=FdType.FILE, name="/etc/shadow", dev=(8 << 20) | 1, ino=99)
    evt = event("openat", {"fd": 3, "dirfd": -100, "name": "../etc/shadow"}, thread=py, fd=fd)
    assert get(state, "fd.num", evt) == 3
    assert get(state, "fd.type", evt) == "file"
    assert get(state, "fd.typechar", evt) == "f"
    assert get(state, "fd.name", evt) == "/etc/shadow"
    assert get(state, "fd.directory", evt) == "/etc"
    assert get(state, "fd.filename", evt) == "shadow"
    assert get(state, "fd.nameraw", evt) == "../etc/shadow"
    assert get(state, "fd.dev.major", evt) == 8
    assert get(state, "fd.dev.minor", evt) == 1
    assert get(state, "fd.ino", evt) == 99
    for name in ("fd.sip", "fd.lport", "fd.l4proto", "fd.sockfamily"):
        assert get(state, name, evt) is MISSING, name
    assert get(state, "fd.connected", evt) is False


def test_directory_fd() -> None:
    state, py = family()
    evt = event("openat", thread=py, fd=Fd(num=3, type=FdType.DIRECTORY, name="/var/log"))
    assert get(state, "fd.directory", evt) == "/var/log"
    assert get(state, "fd.filename", evt) is MISSING
    assert get(state, "fd.typechar", evt) == "d"


def test_an_unknown_fd_reads_as_libsinsp_reads_it() -> None:
    """libsinsp's extract_fd / extract_fdname_from_event: an fd event whose fd is not in the
    table still has its number, an empty name (directory "/"), and nothing else; an event
    that uses no fd (even with an ``fd`` parameter) and an enter event have no name at all."""
    state, py = family()
    plain = event("close", {"fd": 9}, thread=py)
    py.lastevent_fd = 9  # as the state's apply() leaves it
    assert get(state, "fd.num", plain) == 9
    assert get(state, "fd.name", plain) == ""
    assert get(state, "fd.directory", plain) == "/"
    for name in ("fd.type", "fd.filename", "fd.sip", "fd.is_server", "fd.l4proto"):
        assert get(state, name, plain) is MISSING, name
    assert not matches(state, "fd.name startswith /", plain)
    assert matches(state, "not fd.name startswith /", plain)
    enter = event("close", {"fd": 9}, thread=py, dir=">")
    assert get(state, "fd.name", enter) is MISSING
    assert get(state, "fd.num", enter) == 9
    unflagged = event("munmap", {"fd": 9}, thread=py, fd=Fd(num=9, type=FdType.FILE, name="/x"))
    for name in ("fd.name", "fd.num", "fd.type", "fd.directory"):
        assert get(state, name, unflagged) is MISSING, name
    orphan = event("read", {"fd": 3}, thread=None, fd=Fd(num=3, type=FdType.FILE, name="/x"))
    assert get(state, "fd.name", orphan) is MISSING  # no thread, no fd (libsinsp: no tinfo)


def test_a_failed_open_names_its_file() -> None:
    state, py = family()
    failed = event("openat", {"fd": -13, "dirfd": -100, "name": "secret"}, thread=py, res=-13)
    assert get(state, "fd.name", failed) == "/root/secret"
    assert get(state, "fd.directory", failed) == "/root"
    assert get(state, "fd.filename", failed) is MISSING  # libsinsp: no fdinfo, no file name
    assert get(state, "fd.nameraw", failed) == "secret"
    assert get(state, "fd.num", failed) == -1  # the enter event reset libsinsp's last fd


@pytest.mark.parametrize("is_server", [False, True])
def test_socket_ends(is_server: bool) -> None:
    state, py = family()
    evt = event("connect", thread=py, fd=_socket(is_server=is_server))
    assert get(state, "fd.cip", evt) == CLIENT
    assert get(state, "fd.sip", evt) == SERVER
    assert get(state, "fd.cport", evt) == 40000
    assert get(state, "fd.sport", evt) == 8080
    local, remote = (SERVER, CLIENT) if is_server else (CLIENT, SERVER)
    lport, rport = (8080, 40000) if is_server else (40000, 8080)
    assert get(state, "fd.lip", evt) == local
    assert get(state, "fd.rip", evt) == remote
    assert get(state, "fd.lport", evt) == lport
    assert get(state, "fd.rport", evt) == rport
    assert get(state, "fd.l4proto", evt) == "tcp"
    assert get(state, "fd.sockfamily", evt) == "ip"
    assert get(state, "fd.typechar", evt) == "4"
    assert get(state, "fd.is_server", evt) is is_server
    assert get(state, "fd.connected", evt) is True
    assert get(state, "fd.sip.name", evt) is MISSING


def test_network_checks() -> None:
    state, py = family()
    evt = event("connect", thread=py, fd=_socket(is_server=False))
    assert matches(state, "fd.snet in (127.0.0.0/8)", evt)
    assert not matches(state, "fd.cnet in (127.0.0.0/8)", evt)
    assert matches(state, "fd.net = 10.0.0.0/8", evt)
    assert matches(state, "fd.ip = 127.0.0.1", evt)
    assert matches(state, "fd.port = 8080", evt)
    assert matches(state, "fd.sip = 127.0.0.1 and fd.sport = 8080", evt)


def test_unix_socket() -> None:
    state, py = family()
    evt = event("connect", thread=py, fd=Fd(num=5, type=FdType.UNIX, name="/run/docker.sock"))
    assert get(state, "fd.sockfamily", evt) == "unix"
    assert get(state, "fd.typechar", evt) == "u"
    assert get(state, "fd.name", evt) == "/run/docker.sock"
    assert get(state, "fd.sip", evt) is MISSING
