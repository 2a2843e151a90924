"""The Docker API's interactive streams driven by the real clients: `docker run -it` and
`docker exec -it` under a pty (typing, resizing, exit status), `docker run -i` with piped stdin
(the half-close ends the container's stdin), exec statuses, docker-py's `exec_run` and attach
socket."""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING

import pytest

from bastion_testing.api_service import Service, serving
from bastion_testing.engine import Bastion, engine_rig
from bastion_testing.terminal import Terminal

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-apix-") as b:
        yield b


@pytest.fixture(scope="module")
def service(bastion: Bastion) -> Iterator[Service]:
    with serving(bastion) as s:
        yield s


@pytest.fixture
def clean(bastion: Bastion) -> Iterator[None]:
    yield
    for cid in bastion("ps", "-a", "-q").stdout.split():
        bastion("rm", "-f", cid)


def test_run_it_types_resizes_and_exits(service: Service, bastion: Bastion, clean: None) -> None:
    argv = service.docker_argv("run", "-it", "--rm", bastion.image, "sh")
    with Terminal(argv, rows=30, cols=100) as term:
        term.send(b"echo $((6*7))\r")
        term.expect(rb"\b42\r\n")
        _size_reaches(term, 30, 100)  # the CLI's resize once the container has started
        # the CLI sees SIGWINCH and asks POST /containers/ID/resize. A new size each try: the
        # CLI resizes once on start and only then listens for SIGWINCH, so a change in between
        # is lost for good (as with moby), and the shell can be typing before it listens
        for attempt in range(20):
            rows, cols = 40 + attempt, 120 + attempt
            term.resize(rows, cols)
            term.send(b"stty size\r")
            if term.try_expect(rb"\b%d %d\r\n" % (rows, cols), 1):
                break
        else:
            raise AssertionError(term.output)
        term.send(b"exit 5\r")
        assert term.wait() == 5
    assert bastion.ok("ps", "-a", "-q") == ""


def _size_reaches(term: Terminal, rows: int, cols: int) -> None:
    """Wait until the shell in `term` sees a `rows` x `cols` terminal. The docker CLI sets the
    size through the API only once the process has started (API 1.41 has no size at create), so
    the shell's first command may still run on the default one."""
    for _ in range(20):
        term.send(b"stty size\r")
        if term.try_expect(rb"\b%d %d\r\n" % (rows, cols), 1):
            return
    raise AssertionError(f"{rows} {cols} never reached the container: {term.output!r}")


def test_run_i_pipes_stdin_until_half_close(
    service: Service, bastion: Bastion, clean: None
) -> None:
    text = "".join(f"line {n}\n" for n in range(2000))  # more than a pipe's buffer
    result = service.docker(
        "run",
        "-i",
        "--rm",
        bastion.image,
        "sh",
        "-c",
        "wc -l; sleep 0.5; echo after >&2; exit 2",
        input=text,
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout.strip() == "2000" and "after" in result.stderr


def _hijack(service: Service, path: str) -> tuple[socket.socket, bytes]:
    """A raw `POST path` asking to upgrade; the socket and the response's head, read before
    anything else happens (the headers must come first, on their own)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(service.socket)
    sock.sendall(
        f"POST /v1.41{path} HTTP/1.1\r\nHost: docker\r\n"
        "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, head
        head += chunk
    return sock, head


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    return data


def test_attach_framed_without_tty_raw_with_tty(
    service: Service, bastion: Bastion, clean: None
) -> None:
    for tty in (False, True):
        flags = ["-t"] if tty else []
        created = service.docker(
            "create", *flags, bastion.image, "sh", "-c", "echo out; sleep 0.2; echo err >&2"
        )
        cid = created.stdout.strip()
        sock, head = _hijack(service, f"/containers/{cid}/attach?stream=1&stdout=1&stderr=1")
        assert head.startswith(b"HTTP/1.1 101 UPGRADED\r\n"), head
        assert b"Content-Type: application/vnd.docker.raw-stream" in head
        assert service.docker("start", cid).returncode == 0
        data = _read_all(sock)
        if tty:
            assert data == b"out\r\nerr\r\n", data
        else:
            assert data == b"\x01\0\0\0\0\0\0\x04out\n\x02\0\0\0\0\0\0\x04err\n", data
        waited = service.docker("wait", cid)
        assert waited.stdout == "0\n", waited.stderr
        assert service.docker("rm", cid).returncode == 0


# docker-py's exec_run leaves the hijacked response's socket to the garbage collector
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_exec_it_exit_codes_and_docker_py(service: Service, bastion: Bastion, clean: None) -> None:
    started = service.docker("run", "-d", "--name", "bst-apix-exec", bastion.image, "sleep", "60")
    assert started.returncode == 0, started.stderr
    argv = service.docker_argv("exec", "-it", "bst-apix-exec", "sh")
    with Terminal(argv, rows=33, cols=90) as term:
        term.send(b"echo $((6*7)) $TERM\r")
        term.expect(rb"42 xterm\r\n")
        _size_reaches(term, 33, 90)
        term.send(b"exit 3\r")
        assert term.wait() == 3
    assert service.docker("exec", "bst-apix-exec", "sh", "-c", "exit 7").returncode == 7
    missing = service.docker("exec", "bst-apix-exec", "no-such-command")
    assert missing.returncode == 127, missing
    flags = service.docker(
        *("exec", "-u", "nobody", "-w", "/tmp", "-e", "A=1", "bst-apix-exec"),
        *("sh", "-c", "id -u; pwd; echo $A"),
    )
    assert flags.stdout.split() == ["65534", "/tmp", "1"], flags
    assert service.docker("exec", "-d", "bst-apix-exec", "touch", "/tmp/cli-d").returncode == 0
    piped = service.docker("exec", "-i", "bst-apix-exec", "sh", "-c", "tr a-z A-Z", input="abc\n")
    assert (piped.returncode, piped.stdout) == (0, "ABC\n"), piped.stderr
    client = service.client()
    try:
        container = client.containers.get("bst-apix-exec")
        plain = container.exec_run(["sh", "-c", "echo out; echo err >&2; exit 4"], demux=True)
        assert plain.exit_code == 4 and plain.output == (b"out\n", b"err\n")
        tty = container.exec_run(["sh", "-c", "tty; echo x"], tty=True)
        assert tty.exit_code == 0 and tty.output.startswith(b"/dev/pts/"), tty
        assert tty.output.endswith(b"x\r\n")
        detached = container.exec_run(["sh", "-c", "echo d > /tmp/d"], detach=True)
        assert detached.output == ""  # 200 and no stream: it runs on its own
        for _ in range(50):
            if container.exec_run(["cat", "/tmp/d"]).output == b"d\n":
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the detached exec did not run")
    finally:
        client.close()
    # after the execs, containers started and ended leave no zombie under the server (the
    # exec start made it a subreaper for a moment only: their monitors go to init)
    for _ in range(2):
        assert service.docker("run", "--rm", bastion.image, "true").returncode == 0
    assert _zombie_children(service.proc.pid) == []


def _zombie_children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == pid:
            found.append(int(entry))
    return found


def test_attach_to_a_running_container(service: Service, bastion: Bastion, clean: None) -> None:
    started = service.docker("run", "-dit", "--name", "bst-apix-att", bastion.image, "sh")
    assert started.returncode == 0, started.stderr
    with Terminal(service.docker_argv("attach", "bst-apix-att"), rows=25, cols=70) as term:
        # the CLI resizes the running container's terminal: to one more row and column, then
        # to its own (moby's nudge for the shell's SIGWINCH); typing may come in between
        _size_reaches(term, 25, 70)
        term.send(b"echo $((3*5))\r")
        term.expect(rb"\b15\r\n")
        term.send(b"exit 6\r")
        assert term.wait() == 6
    status = service.docker(
        "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "bst-apix-att"
    )
    assert status.stdout.split() == ["exited", "6"], status


def test_detach_keys_leave_the_container_running(
    service: Service, bastion: Bastion, clean: None
) -> None:
    argv = service.docker_argv("run", "-it", "--name", "bst-apix-det", bastion.image, "sh")
    with Terminal(argv) as term:
        term.send(b"echo $((2*21))\r")
        term.expect(rb"\b42\r\n")
        term.send(b"\x10\x11")  # Ctrl-P Ctrl-Q
        assert term.wait() == 0
    running = service.docker("inspect", "-f", "{{.State.Running}}", "bst-apix-det")
    assert running.stdout.strip() == "true", running
    with Terminal(service.docker_argv("attach", "bst-apix-det")) as term:
        term.send(b"echo again\r")  # the same shell, its terminal kept across the detach
        term.expect(rb"\bagain\r\n")
        term.send(b"exit 0\r")
        assert term.wait() == 0
