"""The Docker API under bad input, on its real socket: a malformed JSON body, an unknown
container or exec instance, a wrong API version, a huge header, clients that leave mid-stream
or mid-upload (the server keeps serving and nothing is half made), and a user who is neither
root nor in the socket's group (refused by the socket's mode)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from bastion_testing.api_service import Service, serving
from bastion_testing.engine import Bastion, engine_rig

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-apib-") as b:
        yield b


@pytest.fixture(scope="module")
def service(bastion: Bastion) -> Iterator[Service]:
    with serving(bastion) as s:
        yield s


def _connect(service: Service) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(service.socket)
    return sock


def _request(
    service: Service, method: str, path: str, body: bytes = b"", headers: str = ""
) -> tuple[int, bytes]:
    """(status, body) of one request with `Connection: close`."""
    with _connect(service) as sock:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n{headers}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def _message(body: bytes) -> str:
    text = body.split(b"\r\n")[1] if body[:1] not in (b"{", b"[") else body  # chunked or not
    message: str = json.loads(text)["message"]
    return message


def _serving(service: Service) -> bool:
    return _request(service, "GET", "/_ping")[0] == 200


def test_malformed_unknown_and_wrong_version(service: Service, bastion: Bastion) -> None:
    status, body = _request(service, "POST", "/v1.41/containers/create", b'{"Image": "busy')
    assert status == 400 and "invalid JSON body" in _message(body), body
    status, body = _request(service, "POST", "/v1.41/containers/create", b'["a list"]')
    assert status == 400 and "JSON object" in _message(body)
    status, body = _request(service, "POST", "/v1.41/networks/create", b"")
    assert status == 400 and "JSON object body is required" in _message(body)
    status, body = _request(service, "GET", "/v1.41/containers/no-such/json")
    assert (status, _message(body)) == (404, "No such container: no-such")
    status, body = _request(service, "GET", "/v1.41/exec/nope/json")
    assert (status, _message(body)) == (404, "No such exec instance: nope")
    status, body = _request(service, "GET", "/v1.41/containers/json?filters=%7Bbad")
    assert status == 400 and "invalid filters" in _message(body)
    status, body = _request(service, "GET", "/v1.41/containers/json?filters=%7B%22x%22%3A%5B%5D%7D")
    assert (status, _message(body)) == (400, "invalid filter 'x'")
    status, body = _request(service, "GET", "/v1.99/_ping")
    assert status == 400 and "client version 1.99 is too new" in _message(body)
    status, body = _request(service, "GET", "/v1.2/version")
    assert status == 400 and "too old" in _message(body)
    status, body = _request(
        service, "POST", "/v1.41/containers/create?name=bst-apib-x", b'{"Image": ""}'
    )
    assert status == 400
    assert bastion.ok("ps", "-a", "-q") == ""  # nothing made by any of them
    assert service.docker("version").returncode == 0


def test_a_huge_header_is_refused_and_the_server_serves_on(service: Service) -> None:
    status, _ = _request(service, "GET", "/v1.41/_ping", headers=f"X-Big: {'a' * 100_000}\r\n")
    assert status in (400, 431)
    assert _serving(service)


def test_clients_leaving_mid_stream_and_mid_upload(service: Service, bastion: Bastion) -> None:
    cid = service.docker(
        "run", "-d", bastion.image, "sh", "-c", "while :; do echo tick; sleep 0.1; done"
    )
    cid_text = cid.stdout.strip()
    assert cid.returncode == 0, cid.stderr
    try:
        # a follower of the logs, an attached client, a stats stream, an exec: all dropped
        for path in (
            f"/v1.41/containers/{cid_text}/logs?follow=1&stdout=1",
            f"/v1.41/containers/{cid_text}/stats",
            "/v1.41/events",
        ):
            sock = _connect(service)
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: docker\r\n\r\n".encode())
            assert sock.recv(1024).startswith(b"HTTP/1.1 200")
            sock.close()
        sock = _connect(service)
        sock.sendall(
            f"POST /v1.41/containers/{cid_text}/attach?stream=1&stdout=1 HTTP/1.1\r\n"
            "Host: docker\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n".encode()
        )
        assert sock.recv(1024).startswith(b"HTTP/1.1 101 UPGRADED")
        sock.close()
        made = _request(
            service,
            "POST",
            f"/v1.41/containers/{cid_text}/exec",
            json.dumps({"Cmd": ["sleep", "300"], "AttachStdout": True}).encode(),
        )
        exec_id = json.loads(made[1])["Id"]
        sock = _connect(service)
        body = b'{"Detach": false, "Tty": false}'
        sock.sendall(
            f"POST /v1.41/exec/{exec_id}/start HTTP/1.1\r\nHost: docker\r\nUpgrade: tcp\r\n"
            f"Connection: Upgrade\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        assert sock.recv(1024).startswith(b"HTTP/1.1 101 UPGRADED")
        sock.close()
        # an upload cut short: nothing lands in the container
        sock = _connect(service)
        sock.sendall(
            f"PUT /v1.41/containers/{cid_text}/archive?path=/tmp HTTP/1.1\r\nHost: docker\r\n"
            "Content-Type: application/x-tar\r\nContent-Length: 1048576\r\n\r\n".encode()
            + _tar_head("half-made", 1_000_000)
            + b"x" * 4096
        )
        sock.close()
        time.sleep(1)
        assert _serving(service)
        listed = service.docker("exec", cid_text, "ls", "/tmp")
        assert listed.returncode == 0 and "half-made" not in listed.stdout, listed
        logs = service.docker("logs", "--tail", "1", cid_text)
        assert logs.stdout == "tick\n"
    finally:
        assert service.docker("rm", "-f", cid_text).returncode == 0


def _tar_head(name: str, size: int) -> bytes:
    import tarfile

    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(format=tarfile.USTAR_FORMAT, encoding="utf-8", errors="strict")


def test_the_socket_refuses_another_user(service: Service) -> None:
    mode = os.stat(service.socket).st_mode & 0o777
    assert mode == 0o660
    probe = (
        "import socket,sys\n"
        "s=socket.socket(socket.AF_UNIX)\n"
        "try:\n s.connect(sys.argv[1])\nexcept PermissionError:\n sys.exit(13)\n"
    )
    os.chmod(os.path.dirname(service.socket), 0o755)  # only the socket's own mode guards it
    result = subprocess.run(
        [
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            probe,
            service.socket,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 13, result.stderr
    assert _serving(service)
