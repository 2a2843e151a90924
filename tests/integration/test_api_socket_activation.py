"""`bastion system service` under systemd's socket activation (contrib/systemd/bastion-api.*):
the listening socket comes as descriptor 3 with LISTEN_PID/LISTEN_FDS, as systemd passes it.

The test plays systemd: it binds and listens on the socket itself, starts the service with the
socket as fd 3, and drives it with the real docker client. The socket outlives the service
(systemd owns it), so a second activation serves on the same path, and the containers the
first one made are still there.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from typing import TYPE_CHECKING

import pytest

from bastion_testing.api_service import DOCKER
from bastion_testing.engine import Bastion, engine_rig

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.privileged

#: What systemd does before exec: the socket as fd 3, LISTEN_PID naming the new process.
_ACTIVATE = (
    "import os, sys\n"
    "os.dup2(int(sys.argv[1]), 3)\n"
    "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1', LISTEN_FDNAMES='api')\n"
    "os.execvpe(sys.argv[2], sys.argv[2:], os.environ)\n"
)


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-apis-") as b:
        yield b


def _activate(bastion: Bastion, listener: socket.socket) -> subprocess.Popen[str]:
    argv = bastion.argv("system", "service", "unix:///nonexistent/not-used.sock")
    proc = subprocess.Popen(
        [sys.executable, "-c", _ACTIVATE, str(listener.fileno()), *argv],
        pass_fds=(listener.fileno(),),
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **bastion.env},
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line == "bastion: serving the Docker API on the socket systemd passed\n", line
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=30)
    assert proc.stderr is not None
    proc.stderr.close()


def test_the_service_serves_on_the_socket_systemd_passes(bastion: Bastion) -> None:
    directory = tempfile.mkdtemp(prefix="bst-test-act-", dir="/tmp")
    path = os.path.join(directory, "docker.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    env = {**os.environ, "DOCKER_HOST": f"unix://{path}", "DOCKER_CONFIG": directory}
    try:
        listener.bind(path)
        listener.listen(16)
        os.chmod(path, 0o660)  # the unit's SocketMode
        first = _activate(bastion, listener)
        try:
            made = subprocess.run(
                [DOCKER, "create", "--name", "bst-test-activated", bastion.image, "true"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert made.returncode == 0, made.stderr
        finally:
            _stop(first)
        # systemd's socket stays: the service neither removed nor re-made it
        assert os.path.exists(path) and oct(os.stat(path).st_mode & 0o777) == "0o660"
        second = _activate(bastion, listener)
        try:
            shown = subprocess.run(
                [DOCKER, "ps", "-a", "--format", "{{.Names}}"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert shown.returncode == 0, shown.stderr
            assert "bst-test-activated" in shown.stdout.split()
            # the containers it starts do not inherit the activation's variables
            out = subprocess.run(
                [DOCKER, "run", "--rm", bastion.image, "env"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert out.returncode == 0 and "LISTEN_" not in out.stdout, out
        finally:
            _stop(second)
    finally:
        listener.close()
        bastion("rm", "-f", "bst-test-activated")
        if os.path.exists(path):
            os.unlink(path)
        os.rmdir(directory)
