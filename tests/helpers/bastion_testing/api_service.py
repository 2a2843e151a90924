"""`bastion system service` on a private unix socket for the Docker API tests, with the
environment the docker CLI and docker-py need to reach it (`DOCKER_HOST`, a private
`DOCKER_CONFIG`)."""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bastion_testing.engine import Bastion

DOCKER = "/usr/bin/docker"  # Debian's docker.io client (API 1.41)


class Service:
    def __init__(self, bastion: Bastion, *, extra_env: dict[str, str] | None = None) -> None:
        self.socket = os.path.join(os.path.dirname(bastion.root), "docker.sock")
        self.proc = subprocess.Popen(
            bastion.argv("system", "service", f"unix://{self.socket}"),
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **bastion.env, **(extra_env or {})},  # never bastion0
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        assert "serving the Docker API" in line, line + self.proc.stderr.read()
        self.env = {
            **os.environ,
            "DOCKER_HOST": f"unix://{self.socket}",
            "DOCKER_CONFIG": os.path.dirname(self.socket),
        }

    def docker(
        self,
        *args: str,
        timeout: float = 60,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DOCKER, *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
        )

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
