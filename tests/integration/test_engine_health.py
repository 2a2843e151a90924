"""Health checks end to end with real conmon: the `--health-*` flags and an image's HEALTHCHECK
(built by `bastion build`), the scheduler beside the monitor that runs `healthcheck run`
periodically, what `inspect`, `ps` and the event log show, the docker CLI and docker-py over the
API, and that no scheduler is left once the container is removed."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from bastion_testing.api_service import Service, serving
from bastion_testing.engine import Bastion, engine_rig, health_schedulers

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-health-") as b:
        yield b


@pytest.fixture(scope="module")
def service(bastion: Bastion) -> Iterator[Service]:
    with serving(bastion) as s:
        yield s


@pytest.fixture(scope="module")
def checked_image(bastion: Bastion, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An image whose HEALTHCHECK passes once /tmp/ready exists, every second."""
    directory: Path = tmp_path_factory.mktemp("health-build")
    (directory / "Dockerfile").write_text(
        f"FROM {bastion.image}\n"
        "HEALTHCHECK --interval=1s --timeout=5s --retries=2 CMD test -e /tmp/ready\n"
    )
    bastion.ok("build", "-q", "-t", "checked:1", str(directory))
    return "checked:1"


def until(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.1)


def health(bastion: Bastion, name: str) -> dict[str, Any]:
    state: dict[str, Any] = bastion.inspect(name)["State"]  # type: ignore[assignment]
    return state.get("Health") or {}


def health_events(bastion: Bastion, container_id: str) -> list[str]:
    from bastion.engine.events_log import EventLog

    return [
        str(e["Action"])
        for e in EventLog(bastion.root).events()
        if e.get("id") == container_id and str(e["Action"]).startswith("health_status")
    ]


def test_a_passing_check_turns_healthy(bastion: Bastion) -> None:
    bastion.ok(
        *("run", "-d", "--name", "h-ok", "--network", "none"),
        *("--health-cmd", "echo fine; test -e /tmp/ready", "--health-interval", "1s"),
        *(bastion.image, "sh", "-c", "touch /tmp/ready; sleep 600"),
    )
    try:
        doc = bastion.inspect("h-ok")
        assert doc["Config"]["Healthcheck"] == {  # type: ignore[index]
            "Test": ["CMD-SHELL", "echo fine; test -e /tmp/ready"],
            "Interval": 1_000_000_000,
            "Timeout": 0,
            "StartPeriod": 0,
            "Retries": 0,
        }
        assert health(bastion, "h-ok")["Status"] in ("starting", "healthy")
        until("healthy", lambda: health(bastion, "h-ok").get("Status") == "healthy")
        entry = health(bastion, "h-ok")["Log"][-1]
        assert (entry["ExitCode"], entry["Output"]) == (0, "fine\n")
        assert entry["Start"] <= entry["End"]
        assert "(healthy)" in bastion.ok("ps", "--format", "json")
        # the periodic checks go on: the log grows to Docker's five entries and no more
        until("five entries", lambda: len(health(bastion, "h-ok")["Log"]) == 5)
        assert bastion("healthcheck", "run", "h-ok").returncode == 0
        assert len(health(bastion, "h-ok")["Log"]) == 5
        assert health_events(bastion, str(doc["Id"])) == ["health_status: healthy"]
        assert len(health_schedulers(bastion.root)) == 1
    finally:
        bastion.ok("rm", "-f", "h-ok")
    assert health_schedulers(bastion.root) == []  # rm -f returns once it has ended


def test_a_failing_check_turns_unhealthy_after_its_retries(bastion: Bastion) -> None:
    bastion.ok(
        *("create", "--name", "h-bad", "--network", "none"),
        *("--health-cmd", "echo broken >&2; exit 3", "--health-interval", "1h"),
        *("--health-retries", "2", bastion.image, "sleep", "600"),
    )
    try:
        assert health(bastion, "h-bad") == {}  # set up at the start, as dockerd
        bastion.ok("start", "h-bad")
        assert health(bastion, "h-bad") == {"Status": "starting", "FailingStreak": 0, "Log": []}
        assert "(health: starting)" in bastion.ok("ps")
        first = bastion("healthcheck", "run", "h-bad")
        assert (first.returncode, first.stdout) == (1, "starting\n")
        assert health(bastion, "h-bad")["FailingStreak"] == 1
        second = bastion("healthcheck", "run", "h-bad")
        assert (second.returncode, second.stdout) == (1, "unhealthy\n")
        state = health(bastion, "h-bad")
        assert (state["Status"], state["FailingStreak"]) == ("unhealthy", 2)
        assert [(e["ExitCode"], e["Output"]) for e in state["Log"]] == [(3, "broken\n")] * 2
        assert "(unhealthy)" in bastion.ok("ps")
        bastion.ok("stop", "-t", "1", "h-bad")
        assert health_schedulers(bastion.root) == []  # stop ended it with the container
        assert health(bastion, "h-bad")["Status"] == "unhealthy"
        refused = bastion("healthcheck", "run", "h-bad")
        assert refused.returncode != 0 and "is not running" in refused.stderr
    finally:
        bastion.ok("rm", "-f", "h-bad")


def test_a_check_past_its_timeout_fails(bastion: Bastion) -> None:
    bastion.ok(
        *("run", "-d", "--name", "h-slow", "--network", "none", "--health-cmd", "sleep 30"),
        *("--health-interval", "1h", "--health-timeout", "1s", bastion.image, "sleep", "600"),
    )
    try:
        assert bastion("healthcheck", "run", "h-slow").returncode == 1
        entry = health(bastion, "h-slow")["Log"][-1]
        assert entry["ExitCode"] == -1
        assert entry["Output"] == "Health check exceeded timeout (1s)"
    finally:
        bastion.ok("rm", "-f", "h-slow")


def test_the_image_check_its_flags_and_no_healthcheck(bastion: Bastion, checked_image: str) -> None:
    bastion.ok(
        *("run", "-d", "--name", "h-image", "--network", "none", "--health-retries", "5"),
        *(checked_image, "sh", "-c", "touch /tmp/ready; sleep 600"),
    )
    bastion.ok(
        *("run", "-d", "--name", "h-none", "--network", "none", "--no-healthcheck"),
        *(checked_image, "sleep", "600"),
    )
    try:
        # the image's check with the flag's retries over the image's (Docker's merge)
        check = bastion.inspect("h-image")["Config"]["Healthcheck"]  # type: ignore[index]
        assert check["Test"] == ["CMD-SHELL", "test -e /tmp/ready"]
        assert (check["Interval"], check["Timeout"], check["Retries"]) == (10**9, 5 * 10**9, 5)
        until("healthy", lambda: health(bastion, "h-image").get("Status") == "healthy")
        none = bastion.inspect("h-none")
        # Docker's merge: NONE, with the image's durations beside it
        assert none["Config"]["Healthcheck"]["Test"] == ["NONE"]  # type: ignore[index]
        assert "Health" not in none["State"]  # type: ignore[operator]
        assert len(health_schedulers(bastion.root)) == 1  # h-image's only
        refused = bastion("healthcheck", "run", "h-none")
        assert refused.returncode != 0 and "has no health check" in refused.stderr
    finally:
        bastion.ok("rm", "-f", "h-image", "h-none")
    assert health_schedulers(bastion.root) == []


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--no-healthcheck", "--health-cmd", "true"), "--no-healthcheck conflicts"),
        (("--health-interval", "soon"), "invalid --health-interval 'soon'"),
        (("--health-timeout=-1s",), "--health-timeout cannot be negative"),
        (("--health-retries=-2",), "--health-retries cannot be negative"),
        (("--health-interval", "10us", "--health-cmd", "true"), "Interval in Healthcheck"),
    ],
)
def test_bad_flags_make_nothing(bastion: Bastion, flags: tuple[str, ...], message: str) -> None:
    result = bastion("create", "--name", "h-never", *flags, bastion.image, "true")
    assert result.returncode == 125 and message in result.stderr, result
    assert bastion.ok("ps", "-a", "-q") == ""


def test_docker_cli_and_docker_py_see_the_status(service: Service, bastion: Bastion) -> None:
    started = service.docker(
        *("run", "-d", "--name", "h-api", "--health-cmd", "true", "--health-interval", "1s"),
        *(bastion.image, "sleep", "600"),
    )
    assert started.returncode == 0, started.stderr
    try:

        def docker_status() -> str:
            shown = service.docker("inspect", "--format", "{{.State.Health.Status}}", "h-api")
            return shown.stdout.strip()

        until("healthy through the docker CLI", lambda: docker_status() == "healthy")
        listed = service.docker("ps", "--format", "{{.Status}}", "--filter", "name=h-api")
        assert listed.stdout.strip().endswith("(healthy)"), listed
        healthy = service.docker("ps", "-a", "--format", "{{.Names}}", "--filter", "health=healthy")
        assert healthy.stdout.split() == ["h-api"], healthy
        unhealthy = service.docker("ps", "-q", "--filter", "health=unhealthy")
        assert unhealthy.stdout == "", unhealthy
        client = service.client()
        try:
            container = client.containers.get("h-api")
            assert container.attrs["State"]["Health"]["Status"] == "healthy"
            assert container.attrs["Config"]["Healthcheck"]["Test"] == ["CMD-SHELL", "true"]
            made = client.containers.run(
                bastion.image,
                ["sleep", "600"],
                name="h-py",
                detach=True,
                healthcheck={"test": ["CMD", "false"], "interval": 10**9, "retries": 1},
            )
            until(
                "unhealthy through docker-py",
                lambda: (
                    client.api.inspect_container("h-py")["State"]["Health"]["Status"] == "unhealthy"
                ),
            )
            made.remove(force=True)
        finally:
            client.close()
    finally:
        service.docker("rm", "-f", "h-api", "h-py")
    assert health_schedulers(bastion.root) == []


def test_restart_gives_a_new_scheduler_and_starts_over(bastion: Bastion) -> None:
    bastion.ok(
        *("run", "-d", "--name", "h-again", "--network", "none", "--health-cmd", "true"),
        *("--health-interval", "1s", bastion.image, "sleep", "600"),
    )
    try:
        until("healthy", lambda: health(bastion, "h-again").get("Status") == "healthy")
        first = health_schedulers(bastion.root)
        bastion.ok("restart", "-t", "1", "h-again")
        after = health_schedulers(bastion.root)
        assert len(after) == 1 and after != first  # the old one ended with its container
        assert health(bastion, "h-again")["Status"] in ("starting", "healthy")
        until("healthy again", lambda: health(bastion, "h-again").get("Status") == "healthy")
    finally:
        bastion.ok("rm", "-f", "h-again")


def test_a_check_that_cannot_run_fails_with_docker_status(bastion: Bastion) -> None:
    bastion.ok(
        *("run", "-d", "--name", "h-missing", "--network", "none", "--health-interval", "1h"),
        *("--health-cmd", "/no/such/check", bastion.image, "sleep", "600"),
    )
    try:
        assert bastion("healthcheck", "run", "h-missing").returncode == 1
        entry = health(bastion, "h-missing")["Log"][-1]
        assert entry["ExitCode"] == 127  # sh's "not found", as under dockerd
        assert "/no/such/check" in entry["Output"]
    finally:
        bastion.ok("rm", "-f", "h-missing")
    missing = bastion("healthcheck", "run", "h-missing")
    assert missing.returncode != 0 and "no such container" in missing.stderr
