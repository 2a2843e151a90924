"""The live probe on the real kernel: known programs run, and their exact events come back.

One probe (schema defaults) serves the module. Each test runs a short child (or acts itself),
then reads the ring buffer until the child's `procexit` (its last event) and checks the events
of that pid, decoded, against what the child did and reported.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bastion.sensor.assemble import load_rules
from bastion.sensor.events.model import Event, SockAddr, SockTuple
from bastion.sensor.pipeline import Pipeline
from bastion.sensor.probe import Probe
from bastion.sensor.probe.decode import open_flags_to_ppm
from bastion.sensor.state import SensorState

pytestmark = [pytest.mark.privileged, pytest.mark.bpf]

LOOPBACK = ipaddress.IPv4Address("127.0.0.1")


@pytest.fixture(scope="module")
def probe() -> Iterator[Probe]:
    with Probe() as p:
        yield p


def collect(
    probe: Probe,
    match: Callable[[Event], bool],
    until: Callable[[Event], bool],
    deadline_s: float = 10.0,
) -> list[Event]:
    """Matching events, read until one satisfies `until` (or the deadline passes)."""
    found: list[Event] = []
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        probe.poll(0.05)
        for event in probe.read_events():
            if match(event):
                found.append(event)
                if until(event):
                    return found
    raise AssertionError(f"no final event within {deadline_s}s; got {found!r}")


def run_child(
    probe: Probe, argv: list[str], cwd: str | None = None
) -> tuple[int, str, list[Event]]:
    """Run argv to completion; its pid, stdout and every event of its process."""
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=cwd)
    out, _ = child.communicate(timeout=30)
    assert child.returncode == 0, out
    pid = child.pid
    events = collect(probe, lambda e: e.pid == pid, lambda e: e.type == "procexit" and e.tid == pid)
    return pid, out, events


def python(code: str) -> list[str]:
    return [sys.executable, "-S", "-c", code]


def only(events: list[Event], type_: str, **params: object) -> Event:
    """The one event of this type whose params include these values."""
    hits = [
        e
        for e in events
        if e.type == type_ and all(e.params.get(k) == v for k, v in params.items())
    ]
    assert len(hits) == 1, (type_, params, [e for e in events if e.type == type_])
    return hits[0]


def test_open_reports_path_flags_mode_fd_and_inode(probe: Probe, tmp_path: Path) -> None:
    path = str(tmp_path / "bst-test-open")
    flags = "os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC"
    code = f"import os\nfd = os.open({path!r}, {flags}, 0o640)\nprint(fd)\nos.close(fd)"
    pid, out, events = run_child(probe, python(code))
    fd = int(out)
    event = only(events, "openat", name=path)
    st = os.stat(path)
    assert event.res == fd
    assert event.params == {
        "fd": fd,
        "dirfd": -100,
        "name": path,
        "flags": open_flags_to_ppm(os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC),
        "mode": 0o640,
        "dev": st.st_dev,
        "ino": st.st_ino,
    }
    assert (event.tid, event.pid, event.dir, event.category) == (pid, pid, "<", "file")
    assert abs(event.ts - time.time_ns()) < 30 * 10**9
    closes = [e for e in events if e.type == "close" and e.params.get("fd") == fd]
    assert closes and closes[-1].res == 0 and closes[-1].num > event.num


def test_failed_open_has_errno_and_no_inode(probe: Probe, tmp_path: Path) -> None:
    path = str(tmp_path / "bst-test-missing")
    code = f"import os\ntry:\n    os.open({path!r}, os.O_RDONLY)\nexcept OSError:\n    pass"
    _, _, events = run_child(probe, python(code))
    event = only(events, "openat", name=path)
    assert event.res == -errno.ENOENT
    assert "dev" not in event.params and "ino" not in event.params


def test_exec_child_with_arguments(probe: Probe, tmp_path: Path) -> None:
    pid, out, events = run_child(probe, ["/bin/echo", "hello", "world"], cwd=str(tmp_path))
    assert out == "hello world\n"
    clone = only(events, "clone")
    execve = only(events, "execve", res=0)
    exit_ = only(events, "procexit")
    assert clone.num < execve.num < exit_.num
    assert (clone.tid, clone.params["tid"], clone.params["pid"]) == (pid, pid, pid)
    assert clone.params["ptid"] == os.getpid()
    assert (clone.params["vtid"], clone.params["vpid"]) == (pid, pid)  # host pid namespace
    assert clone.res == 0
    p = execve.params
    assert (p["exe"], p["args"], p["filename"], p["comm"]) == (
        "/bin/echo",
        ("hello", "world"),
        "/bin/echo",
        "echo",
    )
    assert (p["tid"], p["pid"], p["ptid"]) == (pid, pid, os.getpid())
    assert p["cwd"] == str(tmp_path)
    assert p["trusted_exepath"] == os.path.realpath("/bin/echo")
    assert (p["uid"], p["gid"], p["euid"], p["egid"]) == (
        os.getuid(),
        os.getgid(),
        os.geteuid(),
        os.getegid(),
    )
    assert f"PATH={os.environ['PATH']}" in p["env"]  # type: ignore[operator]
    assert exit_.params["status"] == 0 and exit_.res is None


def test_failed_exec_reads_the_callers_arguments(probe: Probe) -> None:
    target = "/nonexistent/bst-test-exec"
    code = (
        "import os\ntry:\n"
        f"    os.execv({target!r}, ['bst-test-argv0', 'one', 'two'])\n"
        "except OSError:\n    pass"
    )
    pid, _, events = run_child(probe, python(code))
    event = only(events, "execve", filename=target)
    assert event.res == -errno.ENOENT
    assert event.params["exe"] == "bst-test-argv0"
    assert event.params["args"] == ("one", "two")
    assert event.params["pid"] == pid


def test_connect_and_accept_on_loopback(probe: Probe) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]
        code = (
            f"import socket\ns = socket.create_connection(('127.0.0.1', {port}))\n"
            "print(s.fileno(), s.getsockname()[1])\ns.close()"
        )
        child = subprocess.Popen(python(code), stdout=subprocess.PIPE, text=True)
        conn, _ = server.accept()
        with conn:
            out, _ = child.communicate(timeout=30)
            me, accepted_fd = os.getpid(), conn.fileno()
            client_fd, client_port = (int(x) for x in out.split())
            seen: set[str] = set()

            def done(e: Event) -> bool:
                if e.pid == me and e.type == "accept4" and e.res == accepted_fd:
                    seen.add("accept")
                if e.type == "procexit" and e.tid == child.pid:
                    seen.add("exit")
                return len(seen) == 2

            events = collect(probe, lambda e: e.pid in (me, child.pid), done)
    accepted = only([e for e in events if e.pid == me], "accept4", fd=accepted_fd)
    connect = only([e for e in events if e.pid == child.pid], "connect", fd=client_fd)
    assert connect.res == 0
    assert connect.params["addr"] == SockAddr("inet", LOOPBACK, port)
    assert connect.params["tuple"] == SockTuple("inet", LOOPBACK, client_port, LOOPBACK, port)
    # accept: Falco's tuple starts at the connecting peer.
    assert accepted.params["tuple"] == SockTuple("inet", LOOPBACK, client_port, LOOPBACK, port)
    assert accepted.params["fd"] == accepted_fd
    assert accepted.params["queuemax"] == 4


def test_memfd_pipe_files_and_kill(probe: Probe, tmp_path: Path) -> None:
    d, a, b = (str(tmp_path / n) for n in ("bst-test-dir", "bst-test-a", "bst-test-b"))
    code = f"""
import os, signal
m = os.memfd_create("bst-test-memfd", os.MFD_CLOEXEC)
r, w = os.pipe()
os.mkdir({d!r}, 0o750)
os.close(os.open({a!r}, os.O_CREAT | os.O_WRONLY, 0o600))
os.rename({a!r}, {b!r})
os.unlink({b!r})
os.rmdir({d!r})
os.kill(os.getpid(), 0)
print(m, r, w, os.fstat(r).st_ino)
"""
    pid, out, events = run_child(probe, python(code))
    memfd, rfd, wfd, pipe_ino = (int(x) for x in out.split())
    event = only(events, "memfd_create", name="bst-test-memfd")
    assert (event.res, event.params["flags"]) == (memfd, os.MFD_CLOEXEC)
    pipe = only(events, "pipe2", fd1=rfd)
    assert pipe.params == {
        "res": 0,
        "fd1": rfd,
        "fd2": wfd,
        "ino": pipe_ino,
        "flags": open_flags_to_ppm(os.O_CLOEXEC),
    }
    assert only(events, "mkdir", path=d).params == {"res": 0, "path": d, "mode": 0o750}
    assert only(events, "rename", oldpath=a).params == {"res": 0, "oldpath": a, "newpath": b}
    assert only(events, "unlink", path=b).res == 0
    assert only(events, "rmdir", path=d).res == 0
    kill = only(events, "kill", pid=pid)
    assert (kill.res, kill.params["sig"]) == (0, 0)


def test_setuid_success_then_failure(probe: Probe) -> None:
    code = "import os\nos.setuid(65534)\ntry:\n    os.setuid(0)\nexcept PermissionError:\n    pass"
    _, _, events = run_child(probe, python(code))
    assert only(events, "setuid", uid=65534).res == 0
    assert only(events, "setuid", uid=0).res == -errno.EPERM


def test_udp_sendto_and_recvfrom_name_the_remote_end(probe: Probe) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        port = receiver.getsockname()[1]
        code = (
            "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"s.sendto(b'bst-test-datagram', ('127.0.0.1', {port}))\n"
            "print(s.fileno(), s.getsockname()[1])"
        )
        _, out, events = run_child(probe, python(code))
        data, _ = receiver.recvfrom(100)
        me, rfd = os.getpid(), receiver.fileno()
        received = collect(
            probe,
            lambda e: e.pid == me and e.type == "recvfrom",
            lambda e: e.params.get("fd") == rfd,
        )[-1]
    sfd, sport = (int(x) for x in out.split())
    sent = only(events, "sendto", fd=sfd)
    assert data == b"bst-test-datagram"
    assert sent.res == len(data)
    assert (sent.params["data"], sent.params["size"]) == (data, len(data))
    # The sender was auto-bound to INADDR_ANY: its socket's local address is 0.0.0.0.
    anywhere = ipaddress.IPv4Address("0.0.0.0")
    assert sent.params["tuple"] == SockTuple("inet", anywhere, sport, LOOPBACK, port)
    assert received.res == len(data) and received.params["data"] == data
    assert received.params["tuple"] == SockTuple("inet", LOOPBACK, port, LOOPBACK, sport)


def test_unix_socket_tuple_has_the_path(probe: Probe, tmp_path: Path) -> None:
    path = str(tmp_path / "bst-test.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        code = (
            "import socket\ns = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            f"s.connect({path!r})\nprint(s.fileno())"
        )
        _, out, events = run_child(probe, python(code))
        server.accept()[0].close()
    connect = only(events, "connect", fd=int(out))
    assert connect.res == 0
    assert connect.params["addr"] == SockAddr("unix", path=path)
    assert connect.params["tuple"] == SockTuple("unix", source_path="", dest_path=path)


def test_fd_file_and_process_calls(probe: Probe, tmp_path: Path) -> None:
    f, link, sym = (str(tmp_path / n) for n in ("bst-test-f", "bst-test-link", "bst-test-sym"))
    code = f"""
import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open({f!r}, os.O_CREAT | os.O_RDWR, 0o600)
d1 = libc.dup(fd)
os.dup2(fd, 40)
os.chmod({f!r}, 0o644)
os.fchmod(fd, 0o600)
os.chown({f!r}, 1, 2)
os.link({f!r}, {link!r})
os.symlink("bst-test-target", {sym!r})
os.chdir({str(tmp_path)!r})
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(7)
libc.prctl(15, b"bst-test-name", 0, 0, 0)
libc.umount2(b"/nonexistent-bst-test", 0)
libc.unshare(0)
print(fd, d1, s.fileno(), s.getsockname()[1])
"""
    _, out, events = run_child(probe, python(code))
    fd, d1, sfd, _port = (int(x) for x in out.split())
    assert only(events, "dup", oldfd=fd).res == d1
    assert only(events, "dup2", oldfd=fd).params == {"res": 40, "oldfd": fd, "newfd": 40}
    assert only(events, "chmod", filename=f).params["mode"] == 0o644
    assert only(events, "fchmod", fd=fd).params["mode"] == 0o600
    assert only(events, "chown", path=f).params == {"res": 0, "path": f, "uid": 1, "gid": 2}
    assert only(events, "link", oldpath=f).params["newpath"] == link
    assert only(events, "symlink", linkpath=sym).params["target"] == "bst-test-target"
    assert only(events, "chdir", path=str(tmp_path)).res == 0
    sock = only(events, "socket", fd=sfd)
    assert sock.params["domain"] == socket.AF_INET
    assert sock.params["type"] == socket.SOCK_STREAM | socket.SOCK_CLOEXEC
    bind = only(events, "bind", fd=sfd)
    assert bind.params["addr"] == SockAddr("inet", LOOPBACK, 0) and bind.res == 0
    assert only(events, "listen", fd=sfd).params["backlog"] == 7
    prctl = only(events, "prctl", option=15)
    assert prctl.params["arg2_str"] == "bst-test-name"
    assert only(events, "umount2", name="/nonexistent-bst-test").res == -errno.ENOENT
    assert only(events, "unshare", flags=0).res == 0


FCHMODAT2_RULES = """
- rule: Setuid or setgid bit set
  desc: any of the chmod calls, fchmodat2 (Linux 6.6) included, sets a setuid or setgid bit
  condition: >
    evt.type in (chmod, fchmod, fchmodat, fchmodat2) and evt.rawres = 0
    and (evt.arg.mode contains S_ISUID or evt.arg.mode contains S_ISGID)
  output: >
    setuid bit set (call=%evt.type file=%evt.arg.filename dir=%fd.name mode=%evt.arg.mode
    proc=%proc.name)
  priority: WARNING
"""


def test_fchmodat2_from_probe_to_rule(probe: Probe, tmp_path: Path) -> None:
    """A real process calls fchmodat2 (x86_64 syscall 452): the probe captures it with its
    parameters, the state gives it the directory fd it names (the row's USES_FD flag), and a
    rule on the event fires for the setuid change and not for the plain one."""
    for name in ("bst-test-suid", "bst-test-plain"):
        (tmp_path / name).write_text("")
    code = f"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
d = os.open({str(tmp_path)!r}, os.O_RDONLY | os.O_DIRECTORY)
assert libc.syscall(452, d, b"bst-test-suid", 0o4755, 0) == 0, ctypes.get_errno()
assert libc.syscall(452, d, b"bst-test-plain", 0o640, 0) == 0, ctypes.get_errno()
print(d)
"""
    pid, out, events = run_child(probe, python(code))
    dirfd = int(out)
    assert (tmp_path / "bst-test-suid").stat().st_mode & 0o7777 == 0o4755  # it really ran
    event = only(events, "fchmodat2", filename="bst-test-suid")
    assert event.params == {
        "res": 0,
        "dirfd": dirfd,
        "filename": "bst-test-suid",
        "mode": 0o4755,
        "flags": 0,
    }
    assert (event.tid, event.dir, event.category) == (pid, "<", "file")

    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(FCHMODAT2_RULES)
    state = SensorState()
    state.seed_from_proc()
    pipeline = Pipeline(
        engine=load_rules([str(rules_file)], state, rule_matching="all").engine,
        state=state,
        outputs=[],
    )
    alerts = pipeline.feed(events)
    assert [a.rule for a in alerts] == ["Setuid or setgid bit set"]
    assert alerts[0].output_fields["evt.arg.filename"] == str(tmp_path / "bst-test-suid")
    assert alerts[0].output_fields["fd.name"] == str(tmp_path)  # the dirfd, through USES_FD
    assert alerts[0].output_fields["proc.name"] == os.path.basename(sys.executable)
