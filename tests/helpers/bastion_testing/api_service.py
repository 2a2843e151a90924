"""`bastion system service` on a private unix socket over an engine rig, and the real docker
20.10 CLI and docker-py pointed at it (DOCKER_HOST): the Docker API tests' common part."""

from __future__ import annotations

import contextlib
import os
import subprocess
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    from bastion_testing.engine import Bastion

DOCKER = "/usr/bin/docker"  # Debian's docker.io client (API 1.41); its dockerd never runs


class Service:
    def __init__(self, bastion: Bastion, *, extra_env: dict[str, str] | None = None) -> None:
        self.socket = os.path.join(os.path.dirname(bastion.root), "docker.sock")
        self.proc = subprocess.Popen(
            bastion.argv("system", "service", f"unix://{self.socket}"),
            stderr=subprocess.PIPE,
            text=True,
            # the rig's network prefix: never bastion0
            env={**os.environ, **bastion.env, **(extra_env or {})},
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        assert "serving the Docker API" in line, line + self.proc.stderr.read()
        self.env = {
            **os.environ,
            "DOCKER_HOST": f"unix://{self.socket}",
            "DOCKER_CONFIG": os.path.dirname(self.socket),
        }

    def docker_argv(self, *args: str) -> list[str]:
        """`docker ARGS` with this service's environment, for a program started elsewhere
        (a `Terminal`)."""
        return [
            "/usr/bin/env",
            f"DOCKER_HOST={self.env['DOCKER_HOST']}",
            f"DOCKER_CONFIG={self.env['DOCKER_CONFIG']}",
            DOCKER,
            *args,
        ]

    def docker(
        self,
        *args: str,
        timeout: float = 60,
        input: str | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DOCKER, *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            cwd=cwd,
        )

    def client(self) -> Any:
        import docker  # type: ignore[import-untyped]

        return docker.DockerClient(base_url=f"unix://{self.socket}", version="1.41")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        assert self.proc.stderr is not None
        self.proc.stderr.close()


@contextlib.contextmanager
def serving(bastion: Bastion, *, extra_env: dict[str, str] | None = None) -> Iterator[Service]:
    """The service over `bastion` for a test module (its fixture's body): stopped at the end,
    and its socket gone with it."""
    service = Service(bastion, extra_env=extra_env)
    try:
        yield service
    finally:
        service.stop()
    assert not os.path.exists(service.socket), f"the service left {service.socket}"
