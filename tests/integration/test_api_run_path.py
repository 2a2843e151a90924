"""The API's run path with the real docker 20.10 CLI and docker-py: the server's trace
(`BASTION_API_TRACE`, api/trace.py) names every step of a `docker run --rm` in the order they
happen; the waits for a container's end (AutoRemove, `wait`, `stop`) do not hold the executor's
few threads; a `wait` sent before the start gets the status (woken by the start, not polling);
an attach before the start misses no output, and a replayed log none of its bytes."""

from __future__ import annotations

import gc
import os
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from bastion_testing.api_service import DOCKER, Service, serving
from bastion_testing.engine import Bastion, engine_rig

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

pytestmark = [
    pytest.mark.privileged,
    # docker-py leaves the sockets of its streamed responses to the garbage collector
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-apirun-") as b:
        yield b


@pytest.fixture(scope="module")
def trace_path(bastion: Bastion) -> str:
    return os.path.join(os.path.dirname(bastion.root), "api.trace")


@pytest.fixture(scope="module")
def service(bastion: Bastion, trace_path: str) -> Iterator[Service]:
    with serving(bastion, extra_env={"BASTION_API_TRACE": trace_path}) as s:
        yield s


@pytest.fixture(autouse=True)
def collected() -> Iterator[None]:
    """docker-py's streamed sockets collected while this module's warning filter holds (not
    in the next module's set-up)."""
    yield
    gc.collect()


@pytest.fixture
def clean(bastion: Bastion) -> Iterator[None]:
    yield
    for cid in bastion("ps", "-a", "-q").stdout.split():
        bastion("rm", "-f", cid)


def _steps(path: str, container: str) -> list[tuple[int, str, str]]:
    """(time, kind, step) of the trace's lines about `container`: a request as its method, its
    path's last part and (answered) its status (`POST start 204`), a mark as its name."""
    steps = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            ns, kind, ident, what = line.rstrip("\n").split(" ", 3)
            if ident != container[:12]:
                continue
            if kind != "mark":
                method, target, *status = what.split()
                what = " ".join([method, target.rsplit("/", 1)[-1], *status])
            steps.append((int(ns), kind, what))
    return steps


def test_the_trace_names_each_step_of_a_run_rm(
    service: Service, bastion: Bastion, trace_path: str, tmp_path: Path
) -> None:
    cidfile = tmp_path / "cid"
    result = service.docker("run", "--rm", "--cidfile", str(cidfile), bastion.image, "echo", "hi")
    assert (result.returncode, result.stdout) == (0, "hi\n"), result.stderr
    cid = cidfile.read_text().strip()
    # the server writes a request's `out` line after its last byte: the CLI may be gone first
    _until(lambda: ("out", "POST wait 200") in [(k, w) for _, k, w in _steps(trace_path, cid)])
    steps = _steps(trace_path, cid)
    # the docker CLI attaches and sends its wait before it starts the container; the stream
    # ends before the removal, and `wait?condition=removed` answers after it
    order = [
        ("in", "POST attach"),
        ("in", "POST wait"),
        ("in", "POST start"),
        ("mark", "monitor-made"),
        ("mark", "process-started"),
        ("out", "POST start 204"),
        ("mark", "exit-seen"),
        ("mark", "readers-done"),
        ("mark", "removed"),
        ("out", "POST wait 200"),
    ]
    seen = [(kind, what) for _, kind, what in steps if (kind, what) in order]
    assert seen == order, steps
    assert [ns for ns, _, _ in steps] == sorted(ns for ns, _, _ in steps)
    assert bastion.ok("ps", "-a", "-q") == ""


def test_waits_leave_threads_to_other_requests(
    service: Service, bastion: Bastion, clean: None
) -> None:
    # more detached AutoRemove containers than the executor has threads, each waited for by
    # the server until it ends: every other request must still be answered
    count = min(32, (os.cpu_count() or 1) + 4) + 2
    ids = []
    for _ in range(count):
        started = service.docker("run", "-d", "--rm", bastion.image, "sleep", "600", timeout=60)
        assert started.returncode == 0, started.stderr
        ids.append(started.stdout.strip())
    # a `docker wait` and a `docker stop` in flight as well
    waiting = subprocess.Popen(
        [DOCKER, "wait", ids[0]], env=service.env, stdout=subprocess.PIPE, text=True
    )
    try:
        listed = service.docker("ps", "-q", "--no-trunc", timeout=60)
        assert sorted(listed.stdout.split()) == sorted(ids), listed
        stopped = service.docker("stop", "-t", "1", ids[0], timeout=60)
        assert stopped.returncode == 0, stopped.stderr
        out, _ = waiting.communicate(timeout=60)
        assert out.strip() == "137"
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    removed = service.docker("rm", "-f", *ids[1:], timeout=120)
    assert removed.returncode == 0, removed.stderr


def _waits_in(trace_path: str, container: str) -> int:
    """How many `wait` requests about `container` the server has received."""
    return sum(
        kind == "in" and what.startswith("POST wait")
        for _, kind, what in _steps(trace_path, container)
    )


def _until(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60
    while not done():
        assert time.monotonic() < deadline, "not within a minute"
        time.sleep(0.02)


def test_a_wait_sent_before_the_start_gets_the_status(
    service: Service, bastion: Bastion, trace_path: str, clean: None
) -> None:
    # `docker run` without --rm: attach, wait?condition=next-exit, then start
    result = service.docker("run", "--name", "bst-api-waited", bastion.image, "sh", "-c", "exit 3")
    assert result.returncode == 3, result.stderr
    status = service.docker("inspect", "--format", "{{.State.ExitCode}}", "bst-api-waited")
    assert status.stdout.strip() == "3", status
    client = service.client()
    try:
        container = client.containers.create(bastion.image, ["sh", "-c", "exit 5"])
        answers: dict[str, Any] = {}
        waiters = [
            threading.Thread(
                target=lambda c=condition: answers.update({c: container.wait(condition=c)})
            )
            for condition in ("next-exit", "removed")
        ]
        for waiter in waiters:
            waiter.start()
        _until(lambda: _waits_in(trace_path, container.id) == 2)  # both before the start
        container.start()
        waiters[0].join(60)
        assert answers == {"next-exit": {"StatusCode": 5, "Error": None}}
        container.remove()
        waiters[1].join(60)
        assert answers["removed"] == {"StatusCode": 5, "Error": None}
    finally:
        client.close()


def test_a_wait_for_the_removal_of_a_container_never_started_answers(
    service: Service, bastion: Bastion, trace_path: str, clean: None
) -> None:
    client = service.client()
    try:
        container = client.containers.create(bastion.image, ["true"])
        answers: list[dict[str, Any]] = []
        waiter = threading.Thread(
            target=lambda: answers.append(container.wait(condition="removed"))
        )
        waiter.start()
        _until(lambda: _waits_in(trace_path, container.id) == 1)
        container.remove()
        waiter.join(60)
        assert answers == [{"StatusCode": 0, "Error": None}]
    finally:
        client.close()


LINES = "".join(f"{i}\n" for i in range(1, 101))
COUNT_TO_100 = "i=1; while [ $i -le 100 ]; do echo $i; i=$((i+1)); done"


def test_an_attach_before_the_start_misses_nothing(
    service: Service, bastion: Bastion, clean: None
) -> None:
    # the docker CLI: attach, wait, start; the first line comes as soon as the process runs
    for _ in range(3):
        result = service.docker("run", "--rm", bastion.image, "sh", "-c", COUNT_TO_100)
        assert (result.returncode, result.stdout) == (0, LINES), result.stderr
    # docker-py: attached (the 101 comes at once) before the start, read to the end
    client = service.client()
    try:
        for _ in range(3):
            container = client.containers.create(bastion.image, ["sh", "-c", COUNT_TO_100])
            stream = container.attach(stdout=True, stderr=True, stream=True)
            try:
                container.start()
                assert b"".join(stream).decode() == LINES
            finally:
                stream.close()
            assert container.wait()["StatusCode"] == 0
            container.remove()
    finally:
        client.close()


def test_a_replayed_log_is_not_lost_with_the_headers(
    service: Service, bastion: Bastion, clean: None
) -> None:
    # the past log goes out once the client has read the upgrade's headers (docker-py loses
    # what shares that read): with stream=0 the log alone, with stream=1 the log then the rest
    client = service.client()
    try:
        container = client.containers.run(
            bastion.image, ["sh", "-c", "echo past; exec sleep 600"], detach=True
        )
        _until(lambda: b"past" in container.logs())
        for _ in range(10):
            assert client.api.attach(container.id, logs=True, stream=False) == b"past\n"
        stream = client.api.attach(container.id, logs=True, stream=True)
        try:
            assert next(stream) == b"past\n"
            container.kill()
            assert b"".join(stream) == b""
        finally:
            stream.close()
        assert container.wait()["StatusCode"] == 137  # the stream may end before the exit
        container.remove()
    finally:
        client.close()
