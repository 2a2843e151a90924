"""The fd tables fed with synthetic events: files, memfds, pipes, sockets, dup, close, bounds."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from bastion.sensor.events.model import Event, SockAddr, SockTuple
from bastion.sensor.events.schema import BY_NAME
from bastion.sensor.state import SensorState, Thread
from bastion.sensor.state.fds import abspath
from bastion.sensor.state.flags import AF_INET, AF_INET6, AF_UNIX, O_CLOEXEC, O_DIRECTORY
from bastion.sensor.state.model import Fd, FdType

NUM = iter(range(1, 1_000_000))
LO = ipaddress.ip_address("127.0.0.1")
PEER = ipaddress.ip_address("10.0.0.9")


def ev(kind: str, on: int, /, res: int | None = 0, **params: object) -> Event:
    spec = BY_NAME.get(kind)
    return Event(
        num=next(NUM),
        ts=1,
        cpu=0,
        tid=on,
        pid=on,
        type=kind,
        dir="<",
        category=spec.category if spec else "unknown",
        params=dict(params),
        specs=spec.specs if spec else {},
        res=res,
    )


@pytest.fixture
def state(tmp_path: Path) -> SensorState:
    s = SensorState(max_fds_per_process=16, proc_root=str(tmp_path))
    s.seed_from_scap([], [])
    s.add_thread(Thread(tid=10, pid=10, cwd="/work"))
    return s


def fds(state: SensorState) -> dict[int, Fd]:
    thread = state.process(10)
    assert thread is not None
    return thread.fds


@pytest.mark.parametrize(
    ("cwd", "name", "base", "want"),
    [
        ("/w", "a/b", None, "/w/a/b"),
        ("/w", "/abs/./x/../y", None, "/abs/y"),
        ("/w", "../..//up", None, "/up"),
        ("/w", "rel", "/dir", "/dir/rel"),
        ("/", "x", None, "/x"),
        ("", "x", None, "x"),
        ("/w", "//etc//passwd", None, "/etc/passwd"),
    ],
)
def test_abspath(cwd: str, name: str, base: str | None, want: str) -> None:
    assert abspath(cwd, name, base) == want


def test_open_relative_to_cwd_and_dirfd(state: SensorState) -> None:
    e = ev("openat", 10, res=3, dirfd=-100, name="conf/app.yml", flags=1, mode=0, dev=5, ino=9)
    state.apply(e)
    assert e.fd is fds(state)[3]
    assert (e.fd.name, e.fd.type, e.fd.dev, e.fd.ino) == ("/work/conf/app.yml", "file", 5, 9)
    state.apply(ev("open", 10, res=4, name="/etc", flags=O_DIRECTORY, mode=0))
    assert fds(state)[4].type == FdType.DIRECTORY
    e = ev("openat2", 10, res=5, dirfd=4, name="passwd", flags=0, mode=0, resolve=0)
    state.apply(e)
    assert e.fd is not None and e.fd.name == "/etc/passwd"
    state.apply(ev("creat", 10, res=6, name="new.txt", mode=0o644))
    assert fds(state)[6].name == "/work/new.txt"


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("/etc/./ssh/../shadow", "/etc/shadow"),
        ("//etc//shadow", "/etc/shadow"),
        ("/var/log/", "/var/log"),
        ("/etc/shadow", "/etc/shadow"),
        ("", ""),
    ],
)
def test_an_absolute_name_ignores_the_dirfd_and_is_folded(
    state: SensorState, name: str, want: str
) -> None:
    """As the kernel resolves it (an empty name, which fails there, stays empty)."""
    state.apply(ev("open", 10, res=4, name="/srv", flags=O_DIRECTORY))
    e = ev("openat", 10, res=3, dirfd=4, name=name, flags=0)
    state.apply(e)
    assert e.fd is not None and e.fd.name == want


def test_an_exit_without_the_name_takes_its_enter_events(state: SensorState) -> None:
    """Old captures put open's arguments on the enter event only."""
    enter = ev("open", 10, res=None, name="cfg", flags=O_DIRECTORY, mode=0)
    enter.dir = ">"
    state.apply(enter)
    e = ev("open", 10, res=3)
    state.apply(e)
    assert e.fd is not None and (e.fd.name, e.fd.type) == ("/work/cfg", FdType.DIRECTORY)


def test_failed_open_adds_nothing(state: SensorState) -> None:
    e = ev("openat", 10, res=-2, dirfd=-100, name="/missing", flags=0)
    state.apply(e)
    assert e.fd is None and fds(state) == {}


def test_memfd_create(state: SensorState) -> None:
    e = ev("memfd_create", 10, res=3, name="payload", flags=0)
    state.apply(e)
    assert e.fd is not None and (e.fd.name, e.fd.type) == ("memfd:payload", FdType.MEMFD)
    assert FdType.TYPECHAR[e.fd.type] == "m"


def test_pipe_makes_two_fds(state: SensorState) -> None:
    e = ev("pipe2", 10, res=0, fd1=3, fd2=4, ino=777, flags=O_CLOEXEC)
    state.apply(e)
    table = fds(state)
    assert table[3].type == table[4].type == FdType.PIPE
    # libsinsp names a new pipe nothing; its inode is fd.ino
    assert table[3].name == table[4].name == "" and e.fd is table[4]
    assert table[3].ino == table[4].ino == 777


def test_dup_family(state: SensorState) -> None:
    state.apply(ev("open", 10, res=3, name="/log", flags=O_CLOEXEC))
    state.apply(ev("dup", 10, res=4, oldfd=3))
    table = fds(state)
    assert table[4].name == "/log" and table[4] is not table[3]
    assert not table[4].flags & O_CLOEXEC  # dup never copies close-on-exec
    state.apply(ev("open", 10, res=5, name="/other", flags=0))
    e = ev("dup3", 10, res=5, oldfd=3, newfd=5, flags=O_CLOEXEC)
    state.apply(e)
    assert table[5].name == "/log" and table[5].flags & O_CLOEXEC and e.fd is table[5]
    state.apply(ev("dup2", 10, res=6, oldfd=99, newfd=6))  # unknown source: nothing invented
    assert 6 not in table


def test_close_removes_but_the_event_keeps_the_fd(state: SensorState) -> None:
    state.apply(ev("open", 10, res=3, name="/x", flags=0))
    e = ev("close", 10, res=0, fd=3)
    state.apply(e)
    assert 3 not in fds(state)
    assert e.fd is not None and e.fd.name == "/x"


def test_a_failed_close_keeps_the_fd(state: SensorState) -> None:
    state.apply(ev("open", 10, res=3, name="/x", flags=0))
    e = ev("close", 10, res=-9, fd=3)  # EBADF, EINTR: nothing was closed
    state.apply(e)
    assert e.fd is fds(state)[3]
    enter = ev("close", 10, res=None, fd=3)  # old captures: the fd on the enter side only
    enter.dir = ">"
    state.apply(enter)
    state.apply(ev("close", 10, res=0))
    assert 3 not in fds(state)


def test_events_with_an_fd_parameter_get_the_fd(state: SensorState) -> None:
    state.apply(ev("open", 10, res=3, name="/x", flags=0))
    e = ev("write", 10, res=5, fd=3, data=b"hello", size=5)
    state.apply(e)
    assert e.fd is fds(state)[3]
    e = ev("read", 10, res=0, fd=42)
    state.apply(e)
    assert e.fd is None


def test_fd_table_is_bounded_per_process(state: SensorState) -> None:
    for num in range(40):
        state.apply(ev("open", 10, res=num, name=f"/f{num}", flags=0))
    assert len(fds(state)) == 16
    assert state.stats()["fds_dropped"] == 24
    state.apply(ev("open", 10, res=0, name="/replaced", flags=0))  # a used number still fits
    assert fds(state)[0].name == "/replaced"


def test_tcp_client(state: SensorState) -> None:
    state.apply(ev("socket", 10, res=3, domain=AF_INET, type=1 | 0o4000, proto=0))
    sock = fds(state)[3]
    assert (sock.type, sock.l4proto) == (FdType.IPV4, "tcp")
    tup = SockTuple("inet", LO, 40000, PEER, 443)
    e = ev("connect", 10, res=0, tuple=tup, fd=3, addr=SockAddr("inet", PEER, 443))
    state.apply(e)
    assert e.fd is sock
    assert sock.name == "127.0.0.1:40000->10.0.0.9:443"
    assert (sock.client, sock.cport, sock.server, sock.sport) == (LO, 40000, PEER, 443)
    assert not sock.is_server


def test_connect_in_progress_names_the_peer_failed_connect_does_not(state: SensorState) -> None:
    state.apply(ev("socket", 10, res=3, domain=AF_INET, type=1, proto=0))
    state.apply(ev("socket", 10, res=4, domain=AF_INET, type=1, proto=0))
    tup = SockTuple("inet", LO, 40001, PEER, 80)
    state.apply(ev("connect", 10, res=-115, tuple=tup, fd=3))
    state.apply(ev("connect", 10, res=-111, tuple=tup, fd=4))
    assert fds(state)[3].name.endswith("->10.0.0.9:80") and fds(state)[4].name == ""


def test_udp_and_ipv6_and_unix_sockets(state: SensorState) -> None:
    state.apply(ev("socket", 10, res=3, domain=AF_INET, type=2, proto=0))
    state.apply(ev("socket", 10, res=4, domain=AF_INET6, type=1, proto=0))
    state.apply(ev("socket", 10, res=5, domain=AF_UNIX, type=1, proto=0))
    state.apply(ev("socket", 10, res=6, domain=16, type=3, proto=0))
    table = fds(state)
    assert (table[3].l4proto, table[4].type, table[5].type) == ("udp", FdType.IPV6, FdType.UNIX)
    assert table[6].type == FdType.NETLINK
    state.apply(ev("connect", 10, res=0, fd=5, tuple=SockTuple("unix", dest_path="/run/x.sock")))
    assert table[5].name == "/run/x.sock"


def test_server_bind_listen_accept(state: SensorState) -> None:
    state.apply(ev("socket", 10, res=3, domain=AF_INET, type=1, proto=6))
    e = ev("bind", 10, res=0, addr=SockAddr("inet", ipaddress.ip_address("0.0.0.0"), 8080), fd=3)
    state.apply(e)
    listener = fds(state)[3]
    assert e.fd is listener and listener.name == "0.0.0.0:8080" and listener.sport == 8080
    state.apply(ev("listen", 10, res=0, fd=3, backlog=5))
    assert listener.is_server
    tup = SockTuple("inet", PEER, 5555, LO, 8080)
    e = ev("accept4", 10, res=4, tuple=tup, queuepct=0, queuelen=0, queuemax=5, flags=0)
    state.apply(e)
    conn = fds(state)[4]
    assert e.fd is conn and conn.is_server and conn.l4proto == "tcp"
    assert conn.name == "10.0.0.9:5555->127.0.0.1:8080"
    assert (conn.client, conn.sport) == (PEER, 8080)


def test_bind_unix(state: SensorState) -> None:
    state.apply(ev("socket", 10, res=3, domain=AF_UNIX, type=1, proto=0))
    state.apply(ev("bind", 10, res=0, addr=SockAddr("unix", path="/tmp/s"), fd=3))
    assert fds(state)[3].name == "/tmp/s"


def test_socketpair_and_anon_fds(state: SensorState) -> None:
    state.apply(ev("socketpair", 10, res=0, fd1=3, fd2=4, domain=AF_UNIX, type=1))
    state.apply(ev("eventfd2", 10, res=5))
    state.apply(ev("epoll_create1", 10, res=6))
    state.apply(ev("bpf", 10, res=7, cmd=0))
    state.apply(ev("bpf", 10, res=8, cmd=2))  # BPF_MAP_UPDATE_ELEM: 0 or error, never an fd
    table = fds(state)
    assert [table[n].type for n in (3, 4, 5, 6, 7)] == [
        FdType.UNIX,
        FdType.UNIX,
        FdType.EVENT,
        FdType.EVENTPOLL,
        FdType.BPF,
    ]
    assert 8 not in table


def test_process_fds_are_shared_by_threads(state: SensorState) -> None:
    state.apply(ev("clone", 10, res=11, tid=10, pid=10, ptid=1, flags=1 << 13))
    state.apply(ev("open", 11, res=3, name="/from-thread", flags=0))
    assert fds(state)[3].name == "/from-thread"


def test_only_events_flagged_as_using_an_fd_get_one(state: SensorState) -> None:
    """libscap's EF_USES_FD: mmap (flagged since libs 0.17) takes the fd its enter event named,
    even on an exit without an fd parameter; munmap is not flagged, whatever it carries."""
    state.apply(ev("open", 10, res=3, name="/lib/libc.so.6", flags=0))
    enter = ev("mmap", 10, res=None, addr=0, length=4096, prot=1, flags=2, fd=3, offset=0)
    enter.dir = ">"
    state.apply(enter)
    assert enter.fd is fds(state)[3]
    exit_ = ev("mmap", 10, res=0x7F0000000000)
    state.apply(exit_)
    assert exit_.fd is fds(state)[3]
    unflagged = ev("munmap", 10, res=0, fd=3)
    state.apply(unflagged)
    assert unflagged.fd is None


def test_the_exit_prefers_its_enter_events_fd(state: SensorState) -> None:
    """libsinsp's m_lastevent_fd: the enter event's fd wins; a scheduler switch in between
    (an enter-side event that is no syscall) does not replace the pending enter."""
    state.apply(ev("open", 10, res=3, name="/lib/a", flags=0))
    state.apply(ev("open", 10, res=4, name="/lib/b", flags=0))
    enter = ev("read", 10, res=None, fd=3, size=832)
    enter.dir = ">"
    state.apply(enter)
    switch = ev("switch", 10, res=None, next=0)
    switch.dir = ">"
    state.apply(switch)
    e = ev("read", 10, res=832)
    state.apply(e)
    assert e.fd is fds(state)[3]
    other = ev("write", 10, res=1, fd=4)  # no matching enter: its own parameter
    state.apply(other)
    assert other.fd is fds(state)[4]


def test_udp_send_names_the_socket_from_its_tuple(state: SensorState) -> None:
    """An unbound UDP socket's first sendto: the tuple (carried on the enter event by old
    captures) names it; an unspecified source on loopback is the loopback address."""
    state.apply(ev("socket", 10, res=3, domain=AF_INET6, type=2, proto=0))
    loop = ipaddress.ip_address("::1")
    enter = ev(
        "sendto",
        10,
        res=None,
        fd=3,
        size=6,
        tuple=SockTuple("inet6", ipaddress.ip_address("::"), 0, loop, 2345),
    )
    enter.dir = ">"
    state.apply(enter)
    e = ev("sendto", 10, res=6, data=b"Testme")
    state.apply(e)
    sock = fds(state)[3]
    assert e.fd is sock and sock.name == "::1:0->::1:2345"
    assert (sock.l4proto, sock.server, sock.sport, sock.client) == ("udp", loop, 2345, loop)
    failed = ev("sendto", 10, res=-111, fd=3, tuple=SockTuple("inet6", loop, 1, PEER, 53))
    state.apply(failed)
    assert sock.sport == 2345  # a failed send teaches nothing


def test_send_on_an_unknown_fd_is_taken_as_udp(state: SensorState) -> None:
    tup = SockTuple("inet", LO, 5000, PEER, 53)
    e = ev("sendto", 10, res=10, fd=7, size=10, tuple=tup)
    state.apply(e)
    sock = fds(state)[7]
    assert e.fd is sock and (sock.type, sock.l4proto) == (FdType.IPV4, "udp")
    assert sock.name == "127.0.0.1:5000->10.0.0.9:53"


def test_tcp_socket_keeps_its_name_on_send(state: SensorState) -> None:
    state.apply(ev("socket", 10, res=3, domain=AF_INET, type=1, proto=0))
    state.apply(ev("connect", 10, res=0, fd=3, tuple=SockTuple("inet", LO, 40000, PEER, 443)))
    state.apply(ev("sendto", 10, res=5, fd=3, tuple=SockTuple("inet", LO, 1, PEER, 2)))
    assert fds(state)[3].name == "127.0.0.1:40000->10.0.0.9:443"


def test_bind_to_port_zero_only_renames(state: SensorState) -> None:
    state.apply(ev("socket", 10, res=3, domain=AF_INET6, type=1, proto=6))
    addr = SockAddr("inet6", ipaddress.ip_address("2001:db8::4"), 0)
    state.apply(ev("bind", 10, res=0, addr=addr, fd=3))
    sock = fds(state)[3]
    assert sock.name == "2001:db8::4:0" and not sock.is_server and sock.sport is None


def test_connect_on_an_unknown_fd_adds_nothing(state: SensorState) -> None:
    e = ev("connect", 10, res=0, fd=9, tuple=SockTuple("inet", LO, 1, PEER, 2))
    state.apply(e)
    assert e.fd is None and 9 not in fds(state)


def test_unix_connect_name_has_the_socket_addresses_when_decoded() -> None:
    """libsinsp names a connected unix socket ``SRC->DST PATH`` (kernel addresses in hex);
    a tuple decoded without the addresses is named by its path."""
    from dataclasses import dataclass

    from bastion.sensor.state.fds import unix_tuple_name

    @dataclass(frozen=True, slots=True)
    class WithAddresses(SockTuple):
        source_ptr: int | None = None
        dest_ptr: int | None = None

    path = "/var/run/nscd/socket"
    assert unix_tuple_name(SockTuple("unix", dest_path=path)) == path
    full = WithAddresses("unix", dest_path=path, source_ptr=0, dest_ptr=0xFFFF88003C420800)
    assert unix_tuple_name(full) == "0->ffff88003c420800 /var/run/nscd/socket"
