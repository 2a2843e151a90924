"""What Podman's apiv2 compatibility checks (test/apiv2/*.at, compat paths) showed missing:
`POST /commit` (docker CLI `commit --change`, docker-py `Container.commit`), the image
document's `Comment` and `ExposedPorts`, and `/events?stream=false`."""

from __future__ import annotations

import contextlib
import io
import json
import pathlib
import tarfile
import threading
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

import pytest

from bastion_testing.api_service import Service, serving
from bastion_testing.engine import Bastion, engine_rig
from bastion_testing.layers import file, make_tar, write_oci_image, write_oci_index
from bastion_testing.registry import skopeo_copy

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [
    pytest.mark.privileged,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-apipc-") as b:
        yield b


@pytest.fixture(scope="module")
def service(bastion: Bastion) -> Iterator[Service]:
    with serving(bastion) as s:
        yield s


def _ok(service: Service, *args: str) -> str:
    result = service.docker(*args)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout


def test_commit_with_changes_through_the_docker_cli(service: Service, bastion: Bastion) -> None:
    _ok(service, "run", "--name", "bst-apipc-src", bastion.image, "sh", "-c", "echo made > /made")
    try:
        image_id = _ok(
            service,
            *("commit", "-m", "abcd", "-a", "eric"),
            *("--change", "CMD /bin/bar", "--change", "EXPOSE 9090"),
            *("bst-apipc-src", "bst-apipc/newrepo:v3"),
        ).strip()
        assert image_id.startswith("sha256:"), image_id
        doc = json.loads(_ok(service, "image", "inspect", "bst-apipc/newrepo:v3"))[0]
        assert doc["Id"] == image_id
        assert doc["RepoTags"] == ["docker.io/bst-apipc/newrepo:v3"]
        assert doc["Comment"] == "abcd"
        assert doc["Config"]["Cmd"] == ["/bin/sh", "-c", "/bin/bar"]
        assert "9090/tcp" in doc["Config"]["ExposedPorts"]
        # the container's file is in the new layer: a container of the image reads it
        out = _ok(service, "run", "--rm", "--entrypoint", "cat", image_id, "/made")
        assert out == "made\n"
        bad = service.docker("commit", "--change", "RUN true", "bst-apipc-src", "bst-apipc/x")
        assert bad.returncode != 0 and "RUN is not a valid change command" in bad.stderr, bad
    finally:
        service.docker("rm", "-f", "bst-apipc-src")
        service.docker("rmi", "-f", "bst-apipc/newrepo:v3")


def test_commit_of_a_missing_container_is_404_and_untagged_commit_by_id(
    service: Service, bastion: Bastion
) -> None:
    client = service.client()
    missing = client.api.post(client.api._url("/commit"), params={"container": "nonesuch"})
    assert missing.status_code == 404
    assert missing.json()["message"] == "No such container: nonesuch"
    container = client.containers.create(bastion.image, ["true"], name="bst-apipc-py")
    try:
        image = container.commit()  # no repository: an image known by its id only
        assert image.id.startswith("sha256:") and image.tags == []
        assert client.images.get(image.id).id == image.id
        client.images.remove(image.id)
    finally:
        container.remove(force=True)


def _events(service: Service, query: dict[str, str]) -> list[dict[str, Any]]:
    client = service.client()
    url = client.api._url("/events") + "?" + urllib.parse.urlencode(query)
    response = client.api.get(url, timeout=10)
    assert response.status_code == 200
    return [json.loads(line) for line in response.text.splitlines() if line]


def test_events_stream_false_answers_the_recorded_ones_and_ends(
    service: Service, bastion: Bastion
) -> None:
    start = int(time.time()) - 1
    ran = service.docker("run", "--rm", "--name", "bst-apipc-ev", bastion.image, "false")
    assert ran.returncode == 1, ran
    events = [
        e
        for e in _events(service, {"stream": "false", "since": str(start)})
        if e["Actor"]["Attributes"].get("name") == "bst-apipc-ev"
    ]
    assert {"start", "die"} <= {e["Action"] for e in events}, events
    die = next(e for e in events if e["Action"] == "die")
    assert die["Actor"]["Attributes"]["exitCode"] == "1"
    # without stream=false, and without until, the same request would follow forever
    assert _events(service, {"stream": "0", "since": str(int(time.time()) + 5)}) == []


def test_archive_keeps_the_uploaded_owners_and_answers_numeric_ones(
    service: Service, bastion: Bastion
) -> None:
    client = service.client()
    missing = client.api.head(client.api._url("/containers/nonesuch/archive"), params={"path": "/"})
    assert missing.status_code == 404  # the container is looked up before the path
    upload = io.BytesIO()
    with tarfile.open(fileobj=upload, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size, info.uid, info.gid, info.uname = 6, 1042, 1043, "nobody-here"
        tar.addfile(info, io.BytesIO(b"hello\n"))
    container = client.containers.run(bastion.image, ["sleep", "60"], detach=True)
    try:
        assert container.put_archive("/tmp", upload.getvalue())
        owner = container.exec_run(["stat", "-c", "%u:%g", "/tmp/hello.txt"])
        assert owner.output.decode().strip() == "1042:1043"
        chunks, stat = container.get_archive("/etc/passwd")
        assert stat["name"] == "passwd"
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
            member = tar.getmember("passwd")
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
    finally:
        container.remove(force=True)


def test_pull_progress_says_download_complete_before_pull_complete(
    service: Service, bastion: Bastion
) -> None:
    client = service.client()
    registry = bastion.image.rpartition("/")[0]
    steps = list(client.api.pull(f"{registry}/unique", tag="1", stream=True, decode=True))
    by_layer: dict[str, list[str]] = {}
    for step in steps:
        if "id" in step and step["status"] not in ("Downloading",):
            by_layer.setdefault(step["id"], []).append(step["status"])
    fetched = [s for s in by_layer.values() if "Pull complete" in s]
    assert fetched, steps  # the image's own layer came from the registry
    for statuses in fetched:
        assert statuses[-2:] == ["Download complete", "Pull complete"], by_layer
    assert any(s == ["Already exists"] for s in by_layer.values()), by_layer  # busybox's
    client.images.remove(f"{registry}/unique:1")


def test_attach_stream_false_answers_the_log_and_ends(service: Service, bastion: Bastion) -> None:
    client = service.client()
    container = client.containers.run(
        bastion.image, ["sh", "-c", "echo hi-there; sleep 60"], detach=True
    )
    try:
        deadline = time.monotonic() + 10
        while b"hi-there" not in container.logs() and time.monotonic() < deadline:
            time.sleep(0.1)
        # docker-py sends stream=0: the past output, then the stream ends (moby's), while the
        # container runs on (a server that streamed would answer only when it ends)
        output = client.api.attach(container.id, logs=True, stream=False)
        assert output == b"hi-there\n"
        container.reload()
        assert container.status == "running"
    finally:
        container.remove(force=True)


def test_wait_next_exit_of_an_exited_container_waits_for_its_next_run(
    service: Service, bastion: Bastion
) -> None:
    client = service.client()
    script = "test -e /ran && exit 4; touch /ran; exit 3"  # 3 the first run, 4 the next
    container = client.containers.create(bastion.image, ["sh", "-c", script])
    try:
        container.start()
        assert container.wait()["StatusCode"] == 3
        answers: list[dict[str, Any]] = []
        waiter = threading.Thread(
            target=lambda: answers.append(container.wait(condition="next-exit"))
        )
        waiter.start()
        waiter.join(1.0)
        assert answers == []  # the run that ended is not the next one
        container.start()
        waiter.join(30)
        assert answers == [{"StatusCode": 4, "Error": None}]
    finally:
        container.remove(force=True)


def test_system_df_has_moby_s_keys(service: Service) -> None:
    usage = service.client().df()
    assert set(usage) == {
        *("LayersSize", "Images", "Containers", "Volumes", "BuildCache", "BuilderSize"),
    }, usage
    assert usage["BuilderSize"] == 0 and usage["BuildCache"] == []


def test_ps_last_lists_the_newest_whether_running_or_not(
    service: Service, bastion: Bastion
) -> None:
    ids = []
    try:
        for name in ("bst-apipc-old", "bst-apipc-mid", "bst-apipc-new"):
            ids.append(_ok(service, "create", "--name", name, bastion.image, "true").strip())
            time.sleep(0.01)  # distinct creation times, whatever the clock's resolution
        _ok(service, "start", "bst-apipc-mid")  # runs, ends: not running either
        _ok(service, "wait", "bst-apipc-mid")
        last = _ok(service, "ps", "--last", "2", "--format", "{{.Names}}").split()
        assert last == ["bst-apipc-new", "bst-apipc-mid"]
        assert _ok(service, "ps", "-q") == ""  # without limit: the running ones only
    finally:
        service.docker("rm", "-f", *ids)


def _build(service: Service, base: str, step: str, tag: str, **labels: str) -> str:
    client = service.client()
    dockerfile = io.BytesIO(f"FROM {base}\nRUN {step}\n".encode())
    image, _ = client.images.build(fileobj=dockerfile, tag=tag, labels=labels or None, rm=True)
    return str(image.id)


def test_image_list_filters_and_prune_until(service: Service, bastion: Bastion) -> None:
    client = service.client()
    first = _build(service, bastion.image, "touch /f1", "bst-apipc-img:test")
    second = _build(service, bastion.image, "touch /f2", "bst-apipc-img:test", xyz="")
    time.sleep(1.1)  # image configs say `created` to the second: `since` needs a later one
    other = _build(service, bastion.image, "touch /f3", "bst-apipc-other:latest")
    try:

        def ids(**filters: Any) -> set[str]:
            return {i["Id"] for i in client.api.images(filters=filters)}

        assert first in ids(dangling=True)  # its tag went to the second build
        assert second not in ids(dangling=True) and second in ids(dangling=False)
        assert ids(label="xyz") == {second}
        listed = client.api.images(filters={"label": "xyz"})
        assert listed[0]["Labels"] == {"xyz": ""}
        assert ids(reference="bst-apipc-img") == {second}
        assert ids(reference="bst-apipc-*:latest") == {other}
        assert ids(reference="docker.io/library/bst-apipc-other") == {other}
        assert other in ids(since=second) and second not in ids(since=second)
        assert other not in ids(before=second)
        bad = client.api.get(client.api._url("/images/json"), params={"filters": "garb1age}"})
        assert bad.status_code == 400
        unknown = client.api.get(
            client.api._url("/images/json"), params={"filters": '{"nope":["x"]}'}
        )
        assert unknown.status_code == 400 and "nope" in unknown.json()["message"]
        # until: only what was made before then (the label keeps the rig's base image out)
        kept = client.images.prune(filters={"dangling": False, "label": "xyz", "until": "1h"})
        assert kept["ImagesDeleted"] is None, kept
        assert {first, second, other} <= ids()
        pruned = client.images.prune(filters={"dangling": True, "until": str(time.time() + 5)})
        assert {"Deleted": first} in (pruned["ImagesDeleted"] or []), pruned
        assert first not in ids() and {second, other} <= ids()
    finally:
        for tag in ("bst-apipc-img:test", "bst-apipc-other:latest", first):
            with contextlib.suppress(Exception):
                client.images.remove(tag, force=True)


def test_pull_platform_picks_in_an_index(
    service: Service, bastion: Bastion, tmp_path: pathlib.Path
) -> None:
    root = str(tmp_path / "oci")
    amd64 = write_oci_image(root, "a", [make_tar([file("arch", b"amd64")])])
    arm64 = write_oci_image(root, "b", [make_tar([file("arch", b"arm64")])], architecture="arm64")
    write_oci_index(root, "multi", [(amd64, "linux/amd64"), (arm64, "linux/arm64")])
    registry = bastion.image.rpartition("/")[0]
    skopeo_copy(
        f"oci:{root}:multi",
        f"docker://{registry}/bst-apipc-multi:1",
        "--all",
        "--dest-tls-verify=false",
        workdir=str(tmp_path),
    )
    client = service.client()
    client.api.pull(f"{registry}/bst-apipc-multi", tag="1", platform="linux/arm64")
    try:
        assert client.images.get(f"{registry}/bst-apipc-multi:1").attrs["Architecture"] == "arm64"
        client.api.pull(f"{registry}/bst-apipc-multi", tag="1")  # the default: amd64
        assert client.images.get(f"{registry}/bst-apipc-multi:1").attrs["Architecture"] == "amd64"
        missing = client.api.pull(f"{registry}/bst-apipc-multi", tag="1", platform="linux/s390x")
        assert "s390x" in missing, missing  # an error mid-stream names the platform
    finally:
        with contextlib.suppress(Exception):
            client.images.remove(f"{registry}/bst-apipc-multi:1", force=True)
        client.images.prune(filters={"dangling": True})


def test_create_keeps_entrypoint_and_cmd_as_given(service: Service, bastion: Bastion) -> None:
    client = service.client()
    cases = [
        ({"entrypoint": ["echo"], "command": ["p1", "p2"]}, ["echo"], ["p1", "p2"]),
        ({"entrypoint": ["echo", "p1"]}, ["echo", "p1"], []),
    ]
    for kwargs, entrypoint, cmd in cases:
        container = client.containers.create(bastion.image, **kwargs)
        try:
            doc = client.api.inspect_container(container.id)
            assert doc["Config"]["Entrypoint"] == entrypoint, doc["Config"]
            assert doc["Config"]["Cmd"] == cmd, doc["Config"]
            assert [doc["Path"], *doc["Args"]] == entrypoint + cmd
            container.start()
            assert container.wait()["StatusCode"] == 0
            assert container.logs() == " ".join(entrypoint[1:] + cmd).encode() + b"\n"
        finally:
            container.remove(force=True)


def test_create_stop_signal_and_anonymous_volumes(service: Service, bastion: Bastion) -> None:
    volumes_before = _ok(service, "volume", "ls", "-q").split()
    cid = _ok(
        service,
        *("create", "--stop-signal", "9", "-v", "/test", "-v", "/srv:/bound:ro"),
        *(bastion.image, "true"),
    ).strip()
    try:
        doc = json.loads(_ok(service, "inspect", cid))[0]
        assert doc["Config"]["StopSignal"] == "9"
        mounts = {m["Destination"]: m["Type"] for m in doc["Mounts"]}
        assert mounts == {"/test": "volume", "/bound": "bind"}, doc["Mounts"]
    finally:
        _ok(service, "rm", "-v", cid)
    assert _ok(service, "volume", "ls", "-q").split() == volumes_before  # -v took it
    bad = service.docker("create", "--stop-signal", "NOPE", bastion.image, "true")
    assert bad.returncode != 0 and "invalid stop signal 'NOPE'" in bad.stderr, bad


def test_removing_a_second_name_sends_untag_and_no_delete(
    service: Service, bastion: Bastion
) -> None:
    # the engine's log holds every action of the module's tests: only this image's are read
    client = service.client()
    start = int(time.time()) - 1
    image_id = client.images.get(bastion.image).id
    client.images.get(bastion.image).tag("bst-apipc-ev-image", "1")
    client.images.remove("bst-apipc-ev-image:1")
    # a second name of the image: moby untags it and deletes nothing (another name keeps it)
    name = "docker.io/library/bst-apipc-ev-image:1"
    events = [
        (e["Action"], e["Actor"]["ID"])
        for e in _events(service, {"stream": "false", "since": str(start)})
        if e["Type"] == "image" and e["Actor"]["Attributes"].get("name") == name
    ]
    assert events == [("tag", image_id), ("untag", image_id)], events


def test_cli_stop_of_a_detached_rm_container_succeeds(bastion: Bastion) -> None:
    # the harness's `podman run -d --rm ...; podman stop` through bastion's CLI
    cid = bastion.ok("run", "-d", "--rm", "--name", "bst-apipc-rm", bastion.image, "sleep", "60")
    stopped = bastion("stop", "-t", "1", "bst-apipc-rm")
    assert stopped.returncode == 0, stopped.stderr
    deadline = time.monotonic() + 10
    while cid.strip()[:12] in bastion.ok("ps", "-a", "-q") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cid.strip()[:12] not in bastion.ok("ps", "-a", "-q")


def test_answers_are_compact_json_as_dockerd_writes(service: Service) -> None:
    client = service.client()
    raw = client.api.get(client.api._url("/system/df")).text
    assert raw.startswith('{"LayersSize":') and ", " not in raw and '": ' not in raw, raw


def test_mount_flags_reach_the_container(
    service: Service, bastion: Bastion, tmp_path: pathlib.Path
) -> None:
    (tmp_path / "seen").write_text("from the host\n")
    out = _ok(
        service,
        *("run", "--rm", "--mount", f"type=bind,source={tmp_path},target=/mnt,readonly"),
        *("--mount", "type=tmpfs,target=/scratch,tmpfs-size=1048576,tmpfs-mode=1770"),
        bastion.image,
        *("sh", "-c", "cat /mnt/seen; stat -c %a /scratch; grep ' /scratch ' /proc/mounts"),
    )
    seen, mode, mount = out.splitlines()
    assert seen == "from the host" and mode == "1770"
    assert "tmpfs" in mount and "size=1024k" in mount, mount
    ro = service.docker(
        "run",
        "--rm",
        "--mount",
        f"type=bind,source={tmp_path},target=/mnt,readonly",
        bastion.image,
        "touch",
        "/mnt/x",
    )
    assert ro.returncode != 0 and not (tmp_path / "x").exists()
