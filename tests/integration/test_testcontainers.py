"""testcontainers-python against bastion's Docker API: a `DockerContainer` started, waited for
by its log line, reached through its published port and stopped, first with Ryuk disabled,
then with a Ryuk-compatible reaper of the tests' own (tests/helpers/bastion_testing/reaper/:
busybox, a shell script speaking Ryuk's protocol and a static `unixcat` for the API socket)
built here by `bastion build`, which removes what a killed session left.

Each session runs in a process of its own (`bastion_testing.testcontainers_scenario`).
`TESTCONTAINERS_CONNECTION_MODE=docker_host`: this machine has a /.dockerenv (the sandbox),
which would make testcontainers look for the container it believes it runs in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from bastion_testing.api_service import Service, serving
from bastion_testing.engine import Bastion, engine_rig

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.privileged

HELPERS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "helpers")
REAPER_SOURCE = os.path.join(HELPERS, "bastion_testing", "reaper")
REAPER_IMAGE = "localhost/bastion-test/reaper:1"


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    pytest.importorskip("testcontainers", reason="scripts/setup installs testcontainers")
    with engine_rig(busybox_rootfs, prefix="bst-test-tc-") as b:
        yield b


@pytest.fixture(scope="module")
def service(bastion: Bastion) -> Iterator[Service]:
    with serving(bastion) as s:
        yield s


@pytest.fixture(scope="module")
def reaper_image(bastion: Bastion) -> str:
    context = os.path.join(os.path.dirname(bastion.root), "reaper-context")
    shutil.copytree(REAPER_SOURCE, context)
    subprocess.run(
        ["gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o", "unixcat", "unixcat.c"],
        cwd=context,
        check=True,
    )
    bastion.ok("build", "-q", "-t", REAPER_IMAGE, "--build-arg", f"BASE={bastion.image}", context)
    return REAPER_IMAGE


def session(
    service: Service, image: str, mode: str, **env: str
) -> tuple[dict[str, object], subprocess.CompletedProcess[str]]:
    result = subprocess.run(
        [sys.executable, "-m", "bastion_testing.testcontainers_scenario", image, mode],
        env={
            **service.env,
            "PYTHONPATH": HELPERS,
            "TESTCONTAINERS_CONNECTION_MODE": "docker_host",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), result


def containers(bastion: Bastion) -> list[str]:
    return bastion.ok("ps", "-a", "-q", "--no-trunc").split()


def wait_for_no_containers(bastion: Bastion, seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := containers(bastion)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def test_without_ryuk(service: Service, bastion: Bastion) -> None:
    record, _ = session(service, bastion.image, "stop", TESTCONTAINERS_RYUK_DISABLED="true")
    assert record["read"] == "hello-from-container\n", record
    assert record["host"] == "localhost" and isinstance(record["port"], int)
    assert containers(bastion) == []  # stopped and removed by testcontainers


def test_with_ryuk_a_clean_session(service: Service, bastion: Bastion, reaper_image: str) -> None:
    record, _ = session(
        service,
        bastion.image,
        "stop",
        TESTCONTAINERS_RYUK_DISABLED="false",
        RYUK_CONTAINER_IMAGE=reaper_image,
        RYUK_RECONNECTION_TIMEOUT="1s",
    )
    assert record["read"] == "hello-from-container\n", record
    # testcontainers stops its reaper at exit (run with auto_remove: it goes too)
    assert wait_for_no_containers(bastion, 60) == []


def test_with_ryuk_a_killed_session_is_reaped(
    service: Service, bastion: Bastion, reaper_image: str
) -> None:
    record, _ = session(
        service,
        bastion.image,
        "leave",
        TESTCONTAINERS_RYUK_DISABLED="false",
        RYUK_CONTAINER_IMAGE=reaper_image,
        RYUK_RECONNECTION_TIMEOUT="5s",
    )
    assert record["read"] == "hello-from-container\n", record
    assert record["id"] in containers(bastion)  # left running by the killed session
    # the reaper removes it once the session's connection has been gone 5 s, then exits
    assert wait_for_no_containers(bastion, 90) == []
