"""The engine's event log (engine/events_log.py) seen by the real docker 20.10 CLI through
`/events` and by `bastion system events`: what the bastion CLI does shows up with Docker's
fields, filtered, replayed with `--since`/`--until`, and live to a reader started before."""

from __future__ import annotations

import io
import json
import queue
import subprocess
import tarfile
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from bastion_testing.api_service import DOCKER, Service, serving
from bastion_testing.engine import Bastion, engine_rig

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-apiev-") as b:
        yield b


@pytest.fixture(scope="module")
def service(bastion: Bastion) -> Iterator[Service]:
    with serving(bastion) as s:
        yield s


def _replay(service: Service, since: float, *filters: str) -> list[dict[str, Any]]:
    """`docker events --since --until now` (which ends), as JSON objects."""
    args = ["events", "--since", f"{since:.3f}", "--until", f"{time.time():.3f}"]
    for item in filters:
        args += ["--filter", item]
    result = service.docker(*args, "--format", "{{json .}}")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def _actions(events: list[dict[str, Any]], name: str) -> list[str]:
    return [e["Action"] for e in events if e["Actor"]["Attributes"].get("name") == name]


def test_cli_actions_reach_docker_events_with_dockers_fields(
    service: Service, bastion: Bastion
) -> None:
    since = time.time()
    cid = bastion.ok("create", "--name", "bst-ev-a", "-l", "tier=web", bastion.image, "sleep", "60")
    cid = cid.strip()
    bastion.ok("start", "bst-ev-a")
    bastion.ok("pause", "bst-ev-a")
    bastion.ok("unpause", "bst-ev-a")
    bastion.ok("rename", "bst-ev-a", "bst-ev-b")
    bastion.ok("restart", "-t", "1", "bst-ev-b")
    bastion.ok("kill", "bst-ev-b")
    bastion.ok("rm", "bst-ev-b")  # its exit is recorded here: the die comes before the destroy
    events = [e for e in _replay(service, since) if e["Actor"]["ID"] == cid]
    assert [e["Action"] for e in events] == [
        *("create", "start", "pause", "unpause", "rename"),
        # restart: stop (SIGTERM, which sleep as PID 1 ignores, then SIGKILL), then start
        *("kill", "kill", "die", "stop", "start", "restart"),
        *("kill", "die", "destroy"),
    ], events
    create = events[0]
    assert create["Type"] == "container" and create["scope"] == "local"
    assert create["Actor"]["Attributes"] == {
        "name": "bst-ev-a",
        "image": bastion.image,
        "tier": "web",
    }
    assert create["time"] == create["timeNano"] // 10**9 and create["time"] >= int(since)
    rename = events[4]["Actor"]["Attributes"]
    assert (rename["name"], rename["oldName"]) == ("bst-ev-b", "/bst-ev-a")
    signals = [e["Actor"]["Attributes"]["signal"] for e in events if e["Action"] == "kill"]
    assert signals == ["15", "9", "9"]
    dies = [e["Actor"]["Attributes"]["exitCode"] for e in events if e["Action"] == "die"]
    assert dies == ["137", "137"]
    assert [e["timeNano"] for e in events] == sorted(e["timeNano"] for e in events)


def test_a_run_rm_and_a_detached_exit_are_logged(service: Service, bastion: Bastion) -> None:
    since = time.time()
    ran = bastion("run", "--rm", "--name", "bst-ev-rm", bastion.image, "sh", "-c", "exit 3")
    assert ran.returncode == 3, ran.stderr
    detached = bastion.ok(
        "run", "-d", "--name", "bst-ev-d", bastion.image, "sh", "-c", "exit 5"
    ).strip()
    try:
        # nobody waits for a detached container without a restart policy or --rm: its exit
        # is recorded (and its die logged) by the next look at it
        assert bastion.ok("wait", "bst-ev-d").strip() == "5"
        events = _replay(service, since)
        assert _actions(events, "bst-ev-rm") == ["create", "start", "die", "destroy"]
        die = next(e for e in events if e["Action"] == "die" and e["id"] == detached)
        assert die["Actor"]["Attributes"]["exitCode"] == "5"
    finally:
        bastion.ok("rm", "-f", "bst-ev-d")


def test_filters_narrow_the_replay(service: Service, bastion: Bastion) -> None:
    since = time.time()
    for name in ("bst-ev-f1", "bst-ev-f2"):
        assert bastion("run", "--rm", "--name", name, bastion.image, "true").returncode == 0
    bastion.ok("volume", "create", "bst-ev-vol")
    bastion.ok("volume", "rm", "bst-ev-vol")
    dies = _replay(service, since, "event=die", "container=bst-ev-f2")
    assert [(e["Action"], e["Actor"]["Attributes"]["name"]) for e in dies] == [("die", "bst-ev-f2")]
    volumes = _replay(service, since, "type=volume")
    assert [(e["Action"], e["Actor"]["ID"]) for e in volumes] == [
        ("create", "bst-ev-vol"),
        ("destroy", "bst-ev-vol"),
    ]
    # the same from the engine's own CLI
    shown = bastion.ok(
        *("system", "events", "--since", f"{since:.3f}", "--until", f"{time.time():.3f}"),
        *("--filter", "type=volume", "--format", "json"),
    )
    assert [json.loads(line)["Action"] for line in shown.splitlines()] == ["create", "destroy"]
    text = bastion.ok(
        *("system", "events", "--since", f"{since:.3f}", "--until", f"{time.time():.3f}"),
        *("--filter", "container=bst-ev-f1", "--filter", "event=die"),
    )
    [line] = text.splitlines()
    assert " container die " in line and "exitCode=0" in line and "name=bst-ev-f1" in line
    bad = bastion("system", "events", "--filter", "colour=red")
    assert bad.returncode == 125 and "colour=red" in bad.stderr


def _rootfs_tar(path: Path, content: bytes) -> str:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("only")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return str(path)


def test_image_network_and_volume_events(
    service: Service, bastion: Bastion, tmp_path: Path
) -> None:
    since = time.time()
    bastion.ok("tag", bastion.image, "bst-ev-img:1")
    bastion.ok("rmi", "bst-ev-img:1")
    own = bastion.ok("import", _rootfs_tar(tmp_path / "a.tar", b"a"), "bst-ev-own:1")
    bastion.ok("rmi", "bst-ev-own:1")
    bastion.ok("import", _rootfs_tar(tmp_path / "b.tar", b"b"))  # untagged
    bastion.ok("image", "prune", "-f")
    bastion.ok("network", "create", "bst-ev-net")
    bastion.ok("create", "--name", "bst-ev-nc", bastion.image, "true")
    bastion.ok("network", "connect", "bst-ev-net", "bst-ev-nc")
    bastion.ok("network", "disconnect", "bst-ev-net", "bst-ev-nc")
    bastion.ok("rm", "bst-ev-nc")
    bastion.ok("network", "rm", "bst-ev-net")
    events = _replay(service, since)
    images = [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"]["name"]) for e in events]
    imports = [i for i in images if i[0] == "import"]
    images = [i for i in images if i[0] in ("tag", "untag", "delete")]
    base = service.client().images.get(bastion.image).id
    own_id = next(i[1] for i in images if i[2] == "docker.io/library/bst-ev-own:1")
    assert own_id.startswith("sha256:") and own.strip() in (own_id, own_id[7:19], own_id[7:])
    pruned = images[-1]
    assert images == [
        # another name keeps the image: untagged, not deleted (moby)
        ("tag", base, "docker.io/library/bst-ev-img:1"),
        ("untag", base, "docker.io/library/bst-ev-img:1"),
        # its last name: untagged, then deleted
        ("untag", own_id, "docker.io/library/bst-ev-own:1"),
        ("delete", own_id, "docker.io/library/bst-ev-own:1"),
        # an untagged image pruned: deleted only
        ("delete", pruned[1], pruned[1]),
    ]
    assert imports == [
        ("import", own_id, "docker.io/library/bst-ev-own:1"),
        ("import", pruned[1], pruned[1]),
    ]
    networks = [
        (e["Action"], e["Actor"]["Attributes"].get("container"))
        for e in events
        if e["Type"] == "network" and e["Actor"]["Attributes"]["name"] == "bst-ev-net"
    ]
    cid = next(e["id"] for e in events if e["Action"] == "create" and e["Type"] == "container")
    assert networks == [
        ("create", None),
        ("connect", cid),
        ("disconnect", cid),
        ("destroy", None),
    ]


class _Reader:
    """`docker events` following, its lines read by a thread so a test can wait with a
    deadline instead of blocking on a line that never comes."""

    def __init__(self, service: Service, *args: str) -> None:
        self.proc = subprocess.Popen(
            [DOCKER, "events", *args, "--format", "{{json .}}"],
            env=service.env,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def next(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.lines.get(timeout=60))
        return event

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.thread.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def test_a_reader_started_before_sees_the_cli_live(service: Service, bastion: Bastion) -> None:
    since = time.time()
    reader = _Reader(service, "--filter", "type=volume", "--filter", "type=container")
    try:
        # it is listening once it has seen a mark made after it started
        marks = 0
        while True:
            bastion.ok("volume", "create", f"bst-ev-mark{marks}")
            marks += 1
            try:
                reader.next()
                break
            except queue.Empty:
                continue
        run = bastion("run", "--rm", "--name", "bst-ev-live", bastion.image, "true")
        assert run.returncode == 0, run.stderr
        seen: list[str] = []
        while not seen or seen[-1] != "destroy":
            event = reader.next()
            if event["Actor"]["Attributes"].get("name") == "bst-ev-live":
                seen.append(event["Action"])
        assert seen == ["create", "start", "die", "destroy"]
    finally:
        reader.close()
        for n in range(marks):
            bastion("volume", "rm", f"bst-ev-mark{n}")
    # and one started after replays the same
    assert _actions(_replay(service, since), "bst-ev-live") == seen


def test_docker_py_events_see_the_cli(service: Service, bastion: Bastion) -> None:
    since = int(time.time())
    ran = bastion("run", "--rm", "--name", "bst-ev-py", bastion.image, "sh", "-c", "exit 2")
    assert ran.returncode == 2, ran.stderr
    client = service.client()
    try:
        # an `until` a moment ahead: the server follows the log until then, and ends
        events = list(
            client.events(
                since=since,
                until=int(time.time()) + 1,
                decode=True,
                filters={"container": "bst-ev-py"},
            )
        )
    finally:
        client.close()
    assert [e["Action"] for e in events] == ["create", "start", "die", "destroy"]
    assert events[2]["Actor"]["Attributes"]["exitCode"] == "2"
