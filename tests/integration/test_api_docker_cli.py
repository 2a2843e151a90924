"""The Docker Engine API (`bastion system service`) driven by real clients: Debian's docker
20.10 CLI (its dockerd is never started) and docker-py, on a private unix socket, over the
engine test rig (a registry on 127.0.0.1, a private engine root)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from bastion_testing.api_service import Service, serving
from bastion_testing.engine import Bastion, engine_rig

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-api-") as b:
        yield b


@pytest.fixture(scope="module")
def service(bastion: Bastion) -> Iterator[Service]:
    with serving(bastion) as s:
        yield s


def test_version_and_ping(service: Service) -> None:
    result = service.docker("version", "--format", "{{.Server.APIVersion}} {{.Client.APIVersion}}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1.41", "1.41"]


def test_run_rm_echo_hi(service: Service, bastion: Bastion) -> None:
    result = service.docker("run", "--rm", bastion.image, "echo", "hi")
    assert (result.returncode, result.stdout) == (0, "hi\n"), result.stderr
    assert bastion.ok("ps", "-a", "-q") == ""


def test_run_exit_status_and_stderr(service: Service, bastion: Bastion) -> None:
    result = service.docker(
        "run", "--rm", bastion.image, "sh", "-c", "echo out; echo err >&2; exit 3"
    )
    assert result.returncode == 3, result.stderr
    assert result.stdout == "out\n" and "err\n" in result.stderr


def test_detached_ps_logs_stop_rm(service: Service, bastion: Bastion) -> None:
    started = service.docker(
        "run", "-d", "--name", "bst-api-web", bastion.image, "sh", "-c", "echo ready; exec sleep 60"
    )
    assert started.returncode == 0, started.stderr
    cid = started.stdout.strip()
    try:
        listed = service.docker("ps", "--format", "{{.ID}} {{.Names}}")
        assert f"{cid[:12]} bst-api-web" in listed.stdout, listed
        assert bastion.ok("ps", "-q").split() == [cid[:12]]  # one engine: the CLI sees it too
        logs = service.docker("logs", "bst-api-web")
        assert logs.stdout == "ready\n", logs
        inspected = service.docker("inspect", "--format", "{{.State.Running}} {{.Name}}", cid)
        assert inspected.stdout.split() == ["true", "/bst-api-web"], inspected
        assert service.docker("stop", "-t", "1", cid).returncode == 0
        status = service.docker("inspect", "--format", "{{.State.ExitCode}}", cid)
        assert status.stdout.strip() == "137"
    finally:
        assert service.docker("rm", "-f", cid).returncode == 0
    missing = service.docker("inspect", cid)
    assert missing.returncode == 1 and "No such object" in missing.stderr


def test_errors(service: Service, bastion: Bastion) -> None:
    result = service.docker("logs", "no-such-container")
    assert result.returncode == 1 and "No such container: no-such-container" in result.stderr
    unknown = service.docker("run", "--rm", "127.0.0.1:1/nothing:here", "true")
    assert unknown.returncode == 125, unknown


# --- docker-py -------------------------------------------------------------------------------


def test_docker_py_run_logs_wait_remove(service: Service, bastion: Bastion) -> None:
    import docker  # type: ignore[import-untyped]

    client = docker.DockerClient(base_url=f"unix://{service.socket}", version="1.41")
    try:
        out = client.containers.run(
            bastion.image, ["sh", "-c", "echo one; echo two >&2"], name="bst-api-attached"
        )
        assert out == b"one\n"  # stdout only, as docker-py's default
        container = client.containers.run(
            bastion.image, ["sh", "-c", "echo ready; exit 4"], detach=True, name="bst-api-py"
        )
        assert container.wait()["StatusCode"] == 4
        assert container.logs() == b"ready\n"
        container.reload()
        assert container.status == "exited" and container.name == "bst-api-py"
        container.remove()
        # an attached run without remove=True stays, as with Docker
        assert [c.name for c in client.containers.list(all=True)] == ["bst-api-attached"]
        client.containers.get("bst-api-attached").remove()
        removed = client.containers.run(bastion.image, ["true"], remove=True, detach=True)
        assert removed.wait()["StatusCode"] == 0
        # an image not pulled yet: create answers 404 "No such image" and docker-py pulls it
        other = bastion.image.replace("busybox:latest", "unique:1")
        assert (
            client.containers.run(other, ["cat", "/unique"], remove=True) == b"only in this image\n"
        )
        assert any(other in tag for image in client.images.list() for tag in image.tags)
    finally:
        client.close()
        for cid in bastion("ps", "-a", "-q").stdout.split():
            bastion("rm", "-f", cid)
