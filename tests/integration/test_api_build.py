"""`POST /build` and the image endpoints past pull/list/inspect/delete, driven by the docker
20.10 CLI (`DOCKER_BUILDKIT=0 docker build`, history, tag, save, load, push, image prune,
search) and docker-py (`images.build`), over `bastion system service` on a private socket and
the engine test rig (registry on 127.0.0.1, private engine root)."""

from __future__ import annotations

import io
import json
import os
import socket
import tarfile
import time
from typing import TYPE_CHECKING

import pytest

from bastion_testing.api_service import Service, serving
from bastion_testing.engine import Bastion, engine_rig, mounts_under
from bastion_testing.registry import private_dir, skopeo_copy, start_registry

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.privileged

CLASSIC = {"DOCKER_BUILDKIT": "0"}


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-apibuild-") as b:
        yield b


@pytest.fixture(scope="module")
def service(bastion: Bastion) -> Iterator[Service]:
    with serving(bastion) as s:
        yield s


def context(b: Bastion, name: str, files: dict[str, str]) -> str:
    directory = os.path.join(os.path.dirname(b.root), "contexts", name)
    os.makedirs(directory)
    for path, content in files.items():
        with open(os.path.join(directory, path), "w") as f:
            f.write(content)
    return directory


def test_docker_build_then_run(service: Service, bastion: Bastion) -> None:
    directory = context(
        bastion,
        "cli",
        {
            "Dockerfile": f"FROM {bastion.image}\nARG WHO\nCOPY msg /msg\n"
            'RUN echo "by $WHO" >> /msg\nCMD ["cat", "/msg"]\n',
            "msg": "built over the API\n",
        },
    )
    built = service.docker(
        "build", "-t", "apibuilt:1", "--build-arg", "WHO=docker", ".", env=CLASSIC, cwd=directory
    )
    assert built.returncode == 0, built.stderr
    assert "Step 1/5 : FROM" in built.stdout and "Successfully tagged apibuilt:1" in built.stdout
    ran = service.docker("run", "--rm", "apibuilt:1")
    assert (ran.returncode, ran.stdout) == (0, "built over the API\nby docker\n"), ran.stderr
    again = service.docker(
        "build", "-t", "apibuilt:1", "--build-arg", "WHO=docker", ".", env=CLASSIC, cwd=directory
    )
    assert again.stdout.count("Using cache") == 4, again.stdout
    quiet = service.docker(
        "build", "-q", "--build-arg", "WHO=docker", ".", env=CLASSIC, cwd=directory
    )
    assert quiet.returncode == 0 and quiet.stdout.startswith("sha256:"), quiet
    inspected = service.docker("image", "inspect", "--format", "{{.Id}}", "apibuilt:1")
    assert quiet.stdout.strip() == inspected.stdout.strip()  # the cache gave the same image


def test_failing_run_status_and_no_image(service: Service, bastion: Bastion) -> None:
    directory = context(bastion, "fails", {"Dockerfile": f"FROM {bastion.image}\nRUN exit 3\n"})
    before = bastion.ok("images", "-q")
    result = service.docker("build", "-t", "apifails:1", ".", env=CLASSIC, cwd=directory)
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "returned a non-zero code: 3" in result.stderr
    assert bastion.ok("images", "-q") == before


def test_dockerfile_outside_the_context_is_refused(service: Service) -> None:
    import docker  # type: ignore[import-untyped]

    client = docker.APIClient(base_url=f"unix://{service.socket}", version="1.41")
    try:
        response = client._post(
            client._url("/build"),
            params={"dockerfile": "../../../../etc/passwd"},
            data=_context_tar("FROM scratch\n"),
            headers={"Content-Type": "application/x-tar"},
        )
        assert response.status_code == 400, response.text
        assert "not inside the build context" in response.json()["message"]
        response.close()
    finally:
        client.close()


def test_docker_py_build(service: Service, bastion: Bastion) -> None:
    import docker

    directory = context(
        bastion, "py", {"Dockerfile": f"FROM {bastion.image}\nLABEL via=docker-py\nRUN touch /x\n"}
    )
    client = docker.DockerClient(base_url=f"unix://{service.socket}", version="1.41")
    try:
        image, logs = client.images.build(path=directory, tag="pybuilt:1", labels={"extra": "1"})
        lines = [entry.get("stream", "") for entry in logs]
        assert any(line.startswith("Step 3/3 : RUN touch /x") for line in lines), lines
        assert image.labels == {"via": "docker-py", "extra": "1"}
        assert "pybuilt:1" in image.tags[0]
        # the low-level stream read to its end (images.build raises mid-stream, its response
        # left open): the error record, with the RUN's status
        records = list(
            client.api.build(
                fileobj=io.BytesIO(f"FROM {bastion.image}\nRUN false\n".encode()),
                tag="pyfail",
                decode=True,
            )
        )
        assert records[-1]["errorDetail"]["code"] == 1, records
        assert "returned a non-zero code: 1" in records[-1]["error"]
    finally:
        client.close()


def _context_tar(dockerfile: str) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def test_client_leaving_mid_build_leaves_nothing(service: Service, bastion: Bastion) -> None:
    body = _context_tar(f"FROM {bastion.image}\nRUN echo started; sleep 60\n")
    before = bastion.ok("images", "-q")
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(service.socket)
    sock.sendall(
        b"POST /v1.41/build?t=leaver:1 HTTP/1.1\r\nHost: docker\r\n"
        b"Content-Type: application/x-tar\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    received = b""
    sock.settimeout(60)
    while b"started" not in received:
        chunk = sock.recv(65536)
        assert chunk, received
        received += chunk
    sock.close()  # mid-RUN
    deadline = time.monotonic() + 30
    runtime, scratch = bastion.runtime_root, os.path.join(bastion.root, "build")

    def left() -> list[str]:
        """RUN containers in the runtime, mounts, the build's scratch directory."""
        containers = [n for n in os.listdir(runtime) if n.startswith("build-")]
        return containers + mounts_under(bastion.root) + os.listdir(scratch)

    while left() and time.monotonic() < deadline:
        time.sleep(0.2)  # the build notices within its poll, kills its RUN, cleans up
    assert left() == []
    assert bastion.ok("images", "-q") == before


def test_history_tag_save_load_prune_search(service: Service, bastion: Bastion) -> None:
    directory = context(
        bastion, "verbs", {"Dockerfile": f"FROM {bastion.image}\nRUN echo hi > /hi\n"}
    )
    assert service.docker("build", "-t", "verbs:1", ".", env=CLASSIC, cwd=directory).returncode == 0
    history = service.docker("history", "--no-trunc", "verbs:1")
    assert history.returncode == 0 and "echo hi > /hi" in history.stdout, history
    assert service.docker("tag", "verbs:1", "verbs:copy").returncode == 0
    assert service.docker("image", "inspect", "verbs:copy").returncode == 0
    archive = os.path.join(os.path.dirname(bastion.root), "verbs.tar")
    saved = service.docker("save", "-o", archive, "verbs:copy")
    assert saved.returncode == 0, saved.stderr
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == ["verbs:copy"]
    assert service.docker("rmi", "verbs:copy").returncode == 0
    loaded = service.docker("load", "-i", archive)
    assert loaded.returncode == 0 and "Loaded image: verbs:copy" in loaded.stdout, loaded
    ran = service.docker("run", "--rm", "verbs:copy", "cat", "/hi")
    assert ran.stdout == "hi\n", ran.stderr
    # a moved name leaves the old image untagged: image prune removes it
    assert (
        service.docker(
            "build", "-t", "verbs:copy", "--label", "v=2", ".", env=CLASSIC, cwd=directory
        ).returncode
        == 0
    )
    pruned = service.docker("image", "prune", "-f")
    assert pruned.returncode == 0 and "Total reclaimed space" in pruned.stdout, pruned
    labelled = context(
        bastion, "labelled", {"Dockerfile": f"FROM {bastion.image}\nLABEL purpose=prune-me\n"}
    )
    assert (
        service.docker("build", "-t", "labelled:1", ".", env=CLASSIC, cwd=labelled).returncode == 0
    )
    by_label = service.docker("image", "prune", "-a", "-f", "--filter", "label=purpose=prune-me")
    assert by_label.returncode == 0 and "labelled:1" in by_label.stdout, by_label
    assert service.docker("image", "inspect", "labelled:1").returncode != 0
    assert service.docker("image", "inspect", "verbs:1").returncode == 0  # no such label: kept
    searched = service.docker("search", "busybox")
    assert searched.returncode != 0 and "not supported" in searched.stderr


def test_push_to_the_rig_registry(service: Service, bastion: Bastion) -> None:
    registry = bastion.image.split("/", 1)[0]
    target = f"{registry}/pushed/built:1"
    directory = context(bastion, "push", {"Dockerfile": f"FROM {bastion.image}\nRUN echo p > /p\n"})
    assert service.docker("build", "-t", target, ".", env=CLASSIC, cwd=directory).returncode == 0
    pushed = service.docker("push", target)
    assert pushed.returncode == 0, pushed.stderr
    assert "digest: sha256:" in pushed.stdout
    bastion.ok("rmi", target)
    assert bastion.ok("pull", "-q", target)
    assert bastion.ok("run", "--rm", target, "cat", "/p") == "p\n"


def test_short_name_pulled_from_a_docker_hub_mirror(service: Service, bastion: Bastion) -> None:
    """`docker pull busybox:3.19` is docker.io/library/busybox:3.19; with the rig's registry
    as Docker Hub's mirror (the engine root's registries.json, after a mirror that is down)
    the pull never leaves the machine. (No pull without a mirror: it would ask the host's
    resolver for Docker Hub.)"""
    registry = bastion.image.split("/", 1)[0]
    work = os.path.dirname(bastion.root)
    skopeo_copy(
        f"docker://{bastion.image}",
        f"docker://{registry}/library/busybox:3.19",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        workdir=work,
    )
    config = os.path.join(bastion.root, "registries.json")
    with open(config, "w") as f:
        json.dump({"registry-mirrors": ["http://127.0.0.1:1", f"http://{registry}"]}, f)
    try:
        pulled = service.docker("pull", "busybox:3.19")
        assert pulled.returncode == 0, pulled.stderr
        assert bastion("image", "inspect", "docker.io/library/busybox:3.19").returncode == 0
        ran = service.docker("run", "--rm", "busybox:3.19", "echo", "mirrored")
        assert ran.stdout == "mirrored\n", ran.stderr
        assert service.docker("rmi", "busybox:3.19").returncode == 0
    finally:
        os.unlink(config)


def test_push_and_pull_with_x_registry_auth(service: Service, bastion: Bastion) -> None:
    """The docker CLI sends the credentials of its config.json in X-Registry-Auth: a push and
    a pull to a registry behind Basic auth work with them, and fail without."""
    import base64

    with private_dir("bst-test-apiauth-") as work:
        registry = start_registry(os.path.join(work, "registry"), basic={"builder": "pw-b"})
        try:
            target = f"{registry.host}/auth/busybox:1"
            bastion.ok("tag", bastion.image, target)
            denied = service.docker("push", target)
            assert denied.returncode != 0, denied.stdout
            config = os.path.join(work, "docker-config")
            os.makedirs(config)
            auth = base64.b64encode(b"builder:pw-b").decode()
            with open(os.path.join(config, "config.json"), "w") as f:
                json.dump({"auths": {registry.host: {"auth": auth}}}, f)
            pushed = service.docker("push", target, env={"DOCKER_CONFIG": config})
            assert pushed.returncode == 0, pushed.stderr
            bastion.ok("rmi", target)
            assert service.docker("pull", target).returncode != 0
            pulled = service.docker("pull", target, env={"DOCKER_CONFIG": config})
            assert pulled.returncode == 0, pulled.stderr
            bastion.ok("rmi", target)
        finally:
            registry.stop()
