"""`pull` from a real registry (Debian's docker-registry on 127.0.0.1), open and behind token
auth, with images pushed by skopeo from an OCI layout these tests build: the busybox test image,
a multi-layer image with a whiteout and an opaque directory, a two-platform index, a Docker
schema 2 copy, and an image whose layer the registry serves tampered.

One registry of each kind per module (module-scoped fixtures), stopped by pid at the end.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from bastion.images.auth import Credentials
from bastion.images.documents import DOCKER_MANIFEST, OCI_MANIFEST
from bastion.images.errors import (
    DigestError,
    ImageNotFoundError,
    LayerEscapeError,
    ManifestError,
    RegistryAuthError,
    RegistryUnreachableError,
)
from bastion.images.layers import LayerStore
from bastion.images.layout import Layout
from bastion.images.overlay import ContainerFilesystem
from bastion.images.pull import pull
from bastion.images.push import push
from bastion.images.registry import PullProgress
from bastion_testing.layers import (
    directory,
    file,
    make_tar,
    tar_directory,
    write_oci_image,
    write_oci_index,
)
from bastion_testing.registry import (
    SKOPEO,
    RunningRegistry,
    TokenServer,
    free_port,
    private_dir,
    skopeo_copy,
    start_registry,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.privileged

USER, PASSWORD = "bastion", "s3cret-pw"
REFRESH = "refresh-token-of-bastion"


@dataclass
class Source:
    """The OCI layout the pushed images come from, and what the tests compare with."""

    layout: str
    workdir: str
    busybox_digest: str
    tamper_layer: str


@pytest.fixture(scope="module")
def source(busybox_rootfs: str) -> Iterator[Source]:
    with private_dir("bst-test-images-src-") as workdir:
        root = os.path.join(workdir, "oci")
        busybox = tar_directory(busybox_rootfs)
        digest = write_oci_image(root, "busybox", [busybox], config={"Cmd": ["/bin/sh"]})
        lower = make_tar(
            [
                file("etc/gone", b"old"),
                file("etc/kept", b"kept"),
                directory("opq"),
                file("opq/old-a", b"a"),
                directory("plain"),
                file("plain/old", b"o"),
            ]
        )
        upper = make_tar(
            [
                file("etc/.wh.gone"),
                directory("opq"),
                file("opq/.wh..wh..opq"),
                file("opq/new", b"n"),
                file("plain/new", b"n"),
            ]
        )
        write_oci_image(root, "layers", [busybox, lower, upper])
        write_oci_image(root, "hostile", [make_tar([file("ok", b"x"), file("../../evil", b"x")])])
        tamper = make_tar([file("random", os.urandom(4096))])
        write_oci_image(root, "tamper", [tamper])
        amd64 = write_oci_image(root, "arch-amd64", [make_tar([file("arch", b"amd64")])])
        arm64 = write_oci_image(
            root, "arch-arm64", [make_tar([file("arch", b"arm64")])], architecture="arm64"
        )
        write_oci_index(root, "multi", [(amd64, "linux/amd64"), (arm64, "linux/arm64")])
        with open(os.path.join(root, "index.json")) as f:
            index = json.load(f)
        (tamper_manifest,) = (m for m in index["manifests"] if m["annotations"][REF] == "tamper")
        with open(os.path.join(root, "blobs/sha256", tamper_manifest["digest"][7:])) as f:
            tamper_layer = json.load(f)["layers"][0]["digest"]
        yield Source(root, workdir, digest, tamper_layer)


REF = "org.opencontainers.image.ref.name"


def push_all(source: Source, registry: RunningRegistry, *creds: str) -> None:
    def copy(name: str, dest: str, *extra: str) -> None:
        skopeo_copy(
            f"oci:{source.layout}:{name}",
            f"docker://{registry.host}/{dest}",
            "--dest-tls-verify=false",
            *creds,
            *extra,
            workdir=source.workdir,
        )

    copy("busybox", "busybox:latest")
    copy("layers", "layers:1")
    copy("tamper", "tamper:1")
    copy("hostile", "hostile:1")
    copy("multi", "multi:latest", "--all")
    copy("busybox", "busybox-docker:latest", "--format", "v2s2")


@pytest.fixture(scope="module")
def registry(source: Source) -> Iterator[RunningRegistry]:
    with private_dir("bst-test-registry-") as workdir:
        running = start_registry(workdir)
        try:
            push_all(source, running)
            # the registry lies from now on: same size, other bytes
            path = running.blob_data_path(source.tamper_layer)
            with open(path, "r+b") as f:
                data = f.read()
                f.seek(0)
                f.write(bytes(b ^ 0xFF for b in data[:64]) + data[64:])
            yield running
        finally:
            running.stop()


@pytest.fixture(scope="module")
def token_registry(source: Source) -> Iterator[tuple[RunningRegistry, TokenServer]]:
    with private_dir("bst-test-registry-auth-") as workdir:
        token = TokenServer(workdir, {USER: PASSWORD}, {REFRESH: USER})
        try:
            running = start_registry(workdir, token=token)
            try:
                skopeo_copy(
                    f"oci:{source.layout}:busybox",
                    f"docker://{running.host}/busybox:latest",
                    "--dest-tls-verify=false",
                    f"--dest-creds={USER}:{PASSWORD}",
                    workdir=source.workdir,
                )
                yield running, token
            finally:
                running.stop()
        finally:
            token.stop()


@pytest.fixture(scope="module")
def basic_registry(source: Source) -> Iterator[RunningRegistry]:
    with private_dir("bst-test-registry-basic-") as workdir:
        running = start_registry(workdir, basic={USER: PASSWORD})
        try:
            skopeo_copy(
                f"oci:{source.layout}:busybox",
                f"docker://{running.host}/busybox:latest",
                "--dest-tls-verify=false",
                f"--dest-creds={USER}:{PASSWORD}",
                workdir=source.workdir,
            )
            yield running
        finally:
            running.stop()


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(str(tmp_path / "layout"))


@pytest.fixture(autouse=True)
def _no_user_auth_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's own auth files must not change what these tests see."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)


def assert_no_partial_image(layout: Layout, names: set[str]) -> None:
    assert set(layout.names()) == names
    assert os.listdir(os.path.join(layout.root, "tmp")) == []


def test_pull_busybox_and_unpack(
    registry: RunningRegistry, source: Source, layout: Layout, tmp_path: Path, busybox_rootfs: str
) -> None:
    store = LayerStore(str(tmp_path / "layers"))
    image = pull(f"{registry.host}/busybox", layout, layers=store)
    assert image.name == f"{registry.host}/busybox:latest"
    assert image.digest == source.busybox_digest
    assert image.descriptor.media_type == OCI_MANIFEST
    assert image.config.cmd == ("/bin/sh",)
    (lower,) = store.lowerdirs(image)
    with (
        open(os.path.join(lower, "bin/busybox"), "rb") as got,
        open(os.path.join(busybox_rootfs, "bin/busybox"), "rb") as want,
    ):
        assert got.read() == want.read()
    # another tool reads the layout bastion wrote
    raw = subprocess.run(
        [SKOPEO, "inspect", "--raw", f"oci:{layout.root}:{image.name}"],
        capture_output=True,
        check=True,
    ).stdout
    assert raw == layout.read_blob(image.digest)


def test_blobs_already_present_are_not_fetched(registry: RunningRegistry, layout: Layout) -> None:
    first: list[PullProgress] = []
    pull(f"{registry.host}/busybox:latest", layout, progress=first.append)
    assert {p.state for p in first} >= {"fetching", "done"}
    again: list[PullProgress] = []
    pull(f"{registry.host}/busybox:latest", layout, progress=again.append)
    assert {p.state for p in again} == {"present"}
    assert len(again) == 2  # the config and the one layer


def test_whiteout_and_opaque_directory_through_the_registry(
    registry: RunningRegistry, layout: Layout, tmp_path: Path
) -> None:
    store = LayerStore(str(tmp_path / "layers"))
    image = pull(f"{registry.host}/layers:1", layout, layers=store)
    assert len(image.layers) == 3
    rootfs = ContainerFilesystem(str(tmp_path / "container"))
    try:
        merged = rootfs.mount(store.lowerdirs(image))
        assert sorted(os.listdir(os.path.join(merged, "etc"))) == sorted(
            [*os.listdir(os.path.join(store.lowerdirs(image)[2], "etc")), "kept"]
        )
        assert not os.path.lexists(os.path.join(merged, "etc/gone"))
        assert os.listdir(os.path.join(merged, "opq")) == ["new"]
        assert sorted(os.listdir(os.path.join(merged, "plain"))) == ["new", "old"]
        assert os.path.exists(os.path.join(merged, "bin/busybox"))
    finally:
        rootfs.remove()


def test_index_gives_the_requested_platform(registry: RunningRegistry, layout: Layout) -> None:
    default = pull(f"{registry.host}/multi", layout)
    assert default.config.architecture == "amd64"
    arm = pull(f"{registry.host}/multi", layout, platform="linux/arm64")
    assert arm.config.architecture == "arm64"
    assert arm.descriptor.platform is not None and arm.descriptor.platform.architecture == "arm64"
    names = set(layout.names())
    with pytest.raises(ManifestError) as caught:
        pull(f"{registry.host}/multi", layout, platform="linux/s390x")
    assert caught.value.reference == "platform-not-found"
    assert_no_partial_image(layout, names)


def test_docker_schema2_manifest(registry: RunningRegistry, layout: Layout) -> None:
    image = pull(f"{registry.host}/busybox-docker:latest", layout)
    assert image.descriptor.media_type == DOCKER_MANIFEST
    assert image.config.cmd == ("/bin/sh",)


def test_missing_tag_is_a_clear_error(registry: RunningRegistry, layout: Layout) -> None:
    with pytest.raises(ImageNotFoundError) as caught:
        pull(f"{registry.host}/busybox:no-such-tag", layout)
    assert caught.value.reference == "image-not-found"
    assert "MANIFEST_UNKNOWN" in caught.value.message
    assert "\n" not in caught.value.render()
    assert_no_partial_image(layout, set())
    with pytest.raises(ImageNotFoundError):
        pull(f"{registry.host}/no-such-repo", layout)


def test_tampered_blob_is_refused_and_nothing_kept(
    registry: RunningRegistry, source: Source, layout: Layout
) -> None:
    with pytest.raises(DigestError) as caught:
        pull(f"{registry.host}/tamper:1", layout)
    assert caught.value.reference == "blob-digest-mismatch"
    assert source.tamper_layer in caught.value.message
    assert not layout.has_blob(source.tamper_layer)
    assert_no_partial_image(layout, set())


def test_registry_down(layout: Layout) -> None:
    with pytest.raises(RegistryUnreachableError) as caught:
        pull(f"127.0.0.1:{free_port()}/busybox", layout)
    assert caught.value.reference == "registry-unreachable"
    assert "refused" in caught.value.message.lower()
    assert_no_partial_image(layout, set())


def test_token_auth_with_explicit_credentials(
    token_registry: tuple[RunningRegistry, TokenServer], layout: Layout
) -> None:
    running, token = token_registry
    token.requests.clear()
    image = pull(f"{running.host}/busybox", layout, credentials=Credentials(USER, PASSWORD))
    assert image.config.cmd == ("/bin/sh",)
    assert token.requests[0] == {
        "user": USER,
        "scope": "repository:busybox:pull",
        "service": "bastion-test-registry",
    }


def _auth_entry(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_token_auth_from_docker_config(
    token_registry: tuple[RunningRegistry, TokenServer], layout: Layout, tmp_path: Path
) -> None:
    running, _ = token_registry
    os.makedirs(tmp_path / "docker")
    (tmp_path / "docker/config.json").write_text(
        json.dumps({"auths": {f"https://{running.host}": _auth_entry(USER, PASSWORD)}})
    )
    assert pull(f"{running.host}/busybox", layout).config.cmd == ("/bin/sh",)


def test_token_auth_from_containers_auth_json(
    token_registry: tuple[RunningRegistry, TokenServer], layout: Layout, tmp_path: Path
) -> None:
    running, _ = token_registry
    os.makedirs(tmp_path / "run/containers")
    (tmp_path / "run/containers/auth.json").write_text(
        json.dumps({"auths": {running.host: _auth_entry(USER, PASSWORD)}})
    )
    assert pull(f"{running.host}/busybox", layout).config.cmd == ("/bin/sh",)


@pytest.mark.parametrize("creds", [Credentials(USER, "wrong"), None], ids=["bad", "anonymous"])
def test_bad_credentials_are_a_clear_error(
    token_registry: tuple[RunningRegistry, TokenServer], layout: Layout, creds: Credentials | None
) -> None:
    running, _ = token_registry
    with pytest.raises(RegistryAuthError) as caught:
        pull(f"{running.host}/busybox", layout, credentials=creds)
    assert caught.value.reference == "registry-unauthorized"
    assert "UNAUTHORIZED" in caught.value.message
    assert "wrong" not in caught.value.render()  # the password is never shown
    assert_no_partial_image(layout, set())


def test_skopeo_and_bastion_agree_on_the_image(
    registry: RunningRegistry, source: Source, layout: Layout, tmp_path: Path
) -> None:
    """skopeo copies the same image into its own layout: same manifest digest, same blobs."""
    image = pull(f"{registry.host}/busybox", layout)
    theirs = tmp_path / "skopeo"
    skopeo_copy(
        f"docker://{registry.host}/busybox:latest",
        f"oci:{theirs}:busybox",
        "--src-tls-verify=false",
        workdir=source.workdir,
    )
    their_layout = Layout(str(theirs))
    assert their_layout.resolve("busybox").digest == image.digest
    assert set(their_layout.blobs()) == set(layout.blobs())


def test_basic_auth(basic_registry: RunningRegistry, layout: Layout) -> None:
    image = pull(f"{basic_registry.host}/busybox", layout, credentials=Credentials(USER, PASSWORD))
    assert image.config.cmd == ("/bin/sh",)
    for creds in (Credentials(USER, "wrong"), None):
        with pytest.raises(RegistryAuthError) as caught:
            pull(f"{basic_registry.host}/busybox", Layout(layout.root + "-2"), credentials=creds)
        assert caught.value.reference == "registry-unauthorized"


def test_concurrent_pulls_of_one_image(
    registry: RunningRegistry, layout: Layout, tmp_path: Path
) -> None:
    """Eight pulls at once into one layout and one layer store: one image, one copy of each
    layer, no temporary file left (the engine's CLI processes do this through the same code)."""
    errors: list[BaseException] = []

    def one() -> None:
        try:
            pull(
                f"{registry.host}/layers:1",
                Layout(layout.root),
                layers=LayerStore(str(tmp_path / "layers")),
            )
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert list(layout.names()) == [f"{registry.host}/layers:1"]
    image = layout.image(f"{registry.host}/layers:1")
    store = LayerStore(str(tmp_path / "layers"))
    assert sorted(store.diff_ids()) == sorted(image.config.diff_ids)
    assert os.listdir(tmp_path / "layers/tmp") == []
    assert_no_partial_image(layout, {image.name})


def test_token_auth_with_an_identity_token(
    token_registry: tuple[RunningRegistry, TokenServer], layout: Layout, tmp_path: Path
) -> None:
    """`docker login` with a token stores `identitytoken`: exchanged by an OAuth2 POST."""
    running, token = token_registry
    os.makedirs(tmp_path / "docker")
    entry = {"auth": "", "identitytoken": REFRESH}
    (tmp_path / "docker/config.json").write_text(json.dumps({"auths": {running.host: entry}}))
    token.requests.clear()
    assert pull(f"{running.host}/busybox", layout).config.cmd == ("/bin/sh",)
    assert token.requests[0]["grant_type"] == "refresh_token"
    assert token.requests[0]["user"] == USER


def test_hostile_layer_leaves_no_image(
    registry: RunningRegistry, layout: Layout, tmp_path: Path
) -> None:
    store = LayerStore(str(tmp_path / "layers"))
    with pytest.raises(LayerEscapeError):
        pull(f"{registry.host}/hostile:1", layout, layers=store)
    assert_no_partial_image(layout, set())
    assert store.diff_ids() == [] and os.listdir(tmp_path / "layers/tmp") == []
    assert not (tmp_path / "evil").exists() and not (tmp_path / "layers/evil").exists()


def test_push_then_pull_back(
    registry: RunningRegistry, source: Source, layout: Layout, tmp_path: Path
) -> None:
    image = pull(f"{registry.host}/layers:1", layout)
    steps: list[PullProgress] = []
    dest = f"{registry.host}/pushed/layers:2"
    assert push(layout, image.name, dest, progress=steps.append) == image.digest
    # another repository: every blob uploaded, its bytes reported as they were sent
    assert {s.state for s in steps} == {"pushing", "done"}
    blobs = {d.digest: d.size for d in (image.manifest.config, *image.layers)}
    assert {s.digest for s in steps if s.state == "done"} == set(blobs)
    sent: dict[str, int] = {}
    for step in steps:
        if step.state == "pushing":
            assert step.done > sent.get(step.digest, 0)
            sent[step.digest] = step.done
    assert sent == blobs
    raw = subprocess.run(
        [SKOPEO, "inspect", "--raw", "--tls-verify=false", f"docker://{dest}"],
        capture_output=True,
        check=True,
    ).stdout
    assert raw == layout.read_blob(image.digest)
    back = pull(dest, Layout(str(tmp_path / "back")))
    assert back.digest == image.digest
    steps.clear()
    push(layout, image.name, dest, progress=steps.append)
    assert {s.state for s in steps} == {"present"}


def test_push_needs_credentials(
    token_registry: tuple[RunningRegistry, TokenServer], layout: Layout
) -> None:
    running, token = token_registry
    creds = Credentials(USER, PASSWORD)
    image = pull(f"{running.host}/busybox", layout, credentials=creds)
    with pytest.raises(RegistryAuthError):
        push(layout, image.name, f"{running.host}/mine:1")
    token.requests.clear()
    assert push(layout, image.name, f"{running.host}/mine:1", credentials=creds) == image.digest
    assert "repository:mine:pull,push" in token.requests[0]["scope"].split(" ")
    assert (
        pull(f"{running.host}/mine:1", Layout(layout.root + "-back"), credentials=creds).digest
        == image.digest
    )
