"""The image verbs through the `bastion` CLI, with the real tools on the other side: `save`
read by `podman load` and run there, archives written by `skopeo copy` loaded and run under
`bastion run`, `push` seen by `skopeo inspect`, `login` against a token-auth registry; and
`tag`, `history`, `inspect`, `import`, `image prune`.

One engine rig (registry on 127.0.0.1 with the busybox test image, private engine root) for
the module; Podman runs in its own private environment (`clients.Podman`: its own root,
runroot, storage, `--network none`, cgroups under /bastion-test).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tarfile
import tempfile
from typing import TYPE_CHECKING

import pytest

from bastion_testing import bundle as _bundle
from bastion_testing import clients
from bastion_testing.engine import Bastion, engine_rig
from bastion_testing.layers import file, make_tar, tar_directory, write_oci_image
from bastion_testing.registry import (
    SKOPEO,
    TokenServer,
    private_dir,
    skopeo_copy,
    start_registry,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.privileged

USER, PASSWORD = "imgverbs", "pw-imgverbs"


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-imgverbs-") as b:
        yield b


@pytest.fixture(scope="module")
def podman(busybox_rootfs: str, bastion_runc: str) -> Iterator[clients.Podman]:
    missing = clients.missing_binaries("podman", "conmon")
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (scripts/setup installs them)")
    name = _bundle.new_name()
    workdir = tempfile.mkdtemp(prefix=f"{name}-pm-", dir="/tmp")
    env = clients.Podman(workdir, bastion_runc, f"{_bundle.CGROUP_PARENT}/{name}")
    try:
        yield env
    finally:
        problems = env.close()
    if problems:
        pytest.fail("Podman's clean-up left these:\n" + "\n".join(problems), pytrace=False)


def run_cli(
    b: Bastion, *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        b.argv(*args),
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )


def image_id(b: Bastion, name: str) -> str:
    doc = json.loads(b.ok("image", "inspect", name))[0]
    assert isinstance(doc["Id"], str)
    return doc["Id"]


def test_tag_inspect_and_history(bastion: Bastion) -> None:
    other = "example.org/imgverbs/tagged:7"
    bastion.ok("tag", bastion.image, other)
    try:
        listed = [line.split() for line in bastion.ok("image", "ls").splitlines()[1:]]
        assert ["example.org/imgverbs/tagged", "7"] in [row[:2] for row in listed]
        (doc,) = json.loads(bastion.ok("inspect", other))  # no container: the image's document
        assert doc["Id"] == image_id(bastion, bastion.image)
        assert sorted(doc["RepoTags"]) == sorted([bastion.image, other])
        assert doc["Config"]["Cmd"] == ["/bin/sh"] and doc["Os"] == "linux"
        # the id is the config blob's digest, and its diff ids are the layers the store holds
        config = os.path.join(bastion.root, "images/blobs/sha256", doc["Id"][7:])
        with open(config) as f:
            assert json.load(f)["rootfs"]["diff_ids"] == doc["RootFS"]["Layers"]
        assert bastion("inspect", "--type", "container", other).returncode != 0
        rows = bastion.ok("history", other).splitlines()
        assert rows[0].split()[:2] == ["IMAGE", "CREATED"]
        assert rows[1].split()[0] == doc["Id"][7:19]
        assert len(rows) == 2  # one layer, no history in the test image's config
        assert bastion.ok("history", "-q", "--no-trunc", other).split() == [doc["Id"]]
    finally:
        bastion.ok("rmi", other)
    assert bastion("image", "inspect", other).returncode != 0


def test_history_pairs_entries_with_layers(
    bastion: Bastion, busybox_rootfs: str, tmp_path: Path
) -> None:
    source = str(tmp_path / "oci")
    unique = make_tar([file("unique", b"only in this image\n")])
    history: list[dict[str, object]] = [
        {"created": "2026-01-01T00:00:00Z", "created_by": "ADD rootfs /", "comment": "base"},
        {"created": "2026-01-02T00:00:00Z", "created_by": "ENV A=1", "empty_layer": True},
        {"created": "2026-01-03T00:00:00Z", "created_by": "COPY unique /  " + "x" * 60},
    ]
    write_oci_image(source, "historic", [tar_directory(busybox_rootfs), unique], history=history)
    registry = bastion.image.split("/", 1)[0]
    name = f"{registry}/historic:1"
    skopeo_copy(
        f"oci:{source}:historic",
        f"docker://{name}",
        "--dest-tls-verify=false",
        workdir=str(tmp_path),
    )
    bastion.ok("pull", "-q", name)
    try:
        docs = [
            json.loads(line)
            for line in bastion.ok(
                "history", "--format", "json", "-H", "false", "--no-trunc", name
            ).splitlines()
        ]
        assert [d["CreatedBy"] for d in docs] == [
            "COPY unique /  " + "x" * 60,
            "ENV A=1",
            "ADD rootfs /",
        ]
        assert [d["ID"] for d in docs] == [image_id(bastion, name), "<missing>", "<missing>"]
        assert [d["Size"] for d in docs[:2]] == [str(len("only in this image\n")), "0"]
        assert int(docs[2]["Size"]) > 1_000_000  # the busybox layer, unpacked
        assert docs[2]["Comment"] == "base"
        table = bastion.ok("history", name).splitlines()
        assert table[1].split()[0] == image_id(bastion, name)[7:19]
        assert "COPY unique /  xxx" in table[1] and "…" in table[1]  # cut at 45 characters
    finally:
        bastion.ok("rmi", name)


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_save_loads_and_runs_in_podman(
    bastion: Bastion, podman: clients.Podman, tmp_path: Path, fmt: str
) -> None:
    archive = str(tmp_path / f"busybox.{fmt}.tar")
    bastion.ok("save", "--format", fmt, "-o", archive, bastion.image)
    loaded = podman("load", "-i", archive, check=True).stdout
    name = loaded.strip().splitlines()[-1].partition(": ")[2].split(",")[0]
    assert name, loaded
    try:
        result = podman(
            "run",
            "--rm",
            *podman.run_flags,
            *("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"),
            name,
            "echo",
            f"saved as {fmt}",
        )
        assert result.returncode == 0, clients.describe_result(result)
        assert result.stdout == f"saved as {fmt}\n"
        # the same image: Podman's id is the config digest, as bastion's
        ids = podman("images", "--no-trunc", "--format", "{{.ID}}", check=True).stdout.split()
        assert image_id(bastion, bastion.image).removeprefix("sha256:") in [
            i.removeprefix("sha256:") for i in ids
        ]
    finally:
        podman("rmi", "-f", name)


def test_save_to_standard_output_loads_from_standard_input(bastion: Bastion) -> None:
    saved = run_cli(bastion, "save", bastion.image)
    assert saved.returncode == 0, saved.stderr
    tagged = "example.org/imgverbs/piped:1"
    bastion.ok("tag", bastion.image, tagged)
    bastion.ok("rmi", tagged)
    loaded = run_cli(bastion, "load", stdin=saved.stdout)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.decode() == f"Loaded image: {bastion.image}\n"
    assert os.listdir(bastion.root).count("tmp-stdin-archive") == 0
    assert not [n for n in os.listdir(bastion.root) if n.startswith("tmp-")]


@pytest.mark.parametrize("kind", ["docker-archive", "oci-archive"])
def test_skopeo_archive_loads_and_runs(bastion: Bastion, tmp_path: Path, kind: str) -> None:
    name = f"example.org/imgverbs/from-skopeo-{kind}:1"
    archive = tmp_path / f"{kind}.tar"
    skopeo_copy(
        f"docker://{bastion.image}",
        f"{kind}:{archive}:{name}",
        "--src-tls-verify=false",
        workdir=str(tmp_path),
    )
    assert bastion.ok("load", "-i", str(archive)) == f"Loaded image: {name}\n"
    try:
        result = bastion("run", "--rm", name, "sh", "-c", "echo from $0", kind)
        assert (result.returncode, result.stdout) == (0, f"from {kind}\n"), result.stderr
    finally:
        bastion.ok("rmi", name)


def test_push_then_skopeo_inspect_sees_it(bastion: Bastion, tmp_path: Path) -> None:
    registry = bastion.image.split("/", 1)[0]
    dest = f"{registry}/imgverbs/pushed:2"
    out = bastion("push", bastion.image, dest)
    assert out.returncode == 0, out.stderr
    digest = out.stdout.strip().removeprefix("Digest: ")
    assert "pushed" in out.stderr or "layer already exists" in out.stderr
    seen = subprocess.run(
        [SKOPEO, "inspect", "--tls-verify=false", f"docker://{dest}"],
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(seen.stdout)
    assert doc["Digest"] == digest
    config = json.loads(
        subprocess.run(
            [SKOPEO, "inspect", "--config", "--tls-verify=false", f"docker://{dest}"],
            capture_output=True,
            check=True,
        ).stdout
    )
    ours = json.loads(bastion.ok("image", "inspect", bastion.image))[0]
    assert config["rootfs"]["diff_ids"] == ours["RootFS"]["Layers"]


def test_a_hostile_archive_leaves_nothing(bastion: Bastion, tmp_path: Path) -> None:
    source = str(tmp_path / "oci")
    write_oci_image(source, "evil", [make_tar([file("ok", b"x"), file("../../escape", b"x")])])
    archive = str(tmp_path / "evil.tar")
    with tarfile.open(archive, "w") as tar:
        for name in sorted(os.listdir(source)):
            tar.add(os.path.join(source, name), arcname=name)
    blobs = os.path.join(bastion.root, "images/blobs/sha256")
    before = (bastion.ok("images", "-q"), sorted(os.listdir(blobs)))
    result = bastion("load", "-i", archive)
    assert result.returncode != 0
    (line,) = result.stderr.splitlines()
    assert line.startswith("bastion: error[layer-path-escape]")
    assert (bastion.ok("images", "-q"), sorted(os.listdir(blobs))) == before
    layers = os.path.join(bastion.root, "layers")
    assert os.listdir(os.path.join(layers, "tmp")) == []  # no half-unpacked layer
    assert not os.path.exists(os.path.join(os.path.dirname(bastion.root), "escape"))
    assert not os.path.exists(os.path.join(bastion.root, "escape"))
    nothing = bastion("load", "-i", str(tmp_path / "missing.tar"))
    assert nothing.returncode != 0 and "error[image-archive]" in nothing.stderr


def test_import_untagged_then_prune(bastion: Bastion, busybox_rootfs: str, tmp_path: Path) -> None:
    tar = clients.write_rootfs_tar(busybox_rootfs, str(tmp_path / "rootfs.tar"))
    with open(tar, "rb") as f:
        imported = run_cli(
            bastion, "import", "-c", 'CMD ["/bin/echo", "imported"]', "-", stdin=f.read()
        )
    assert imported.returncode == 0, imported.stderr
    new_id = imported.stdout.decode().strip()
    rows = [line.split() for line in bastion.ok("images").splitlines()[1:]]
    assert ["<none>", "<none>", new_id[7:19]] in [row[:3] for row in rows]
    result = bastion("run", "--rm", new_id[7:19])
    assert (result.returncode, result.stdout) == (0, "imported\n"), result.stderr
    # saved, it has no name in either format (skopeo agrees), and loads back untagged
    for fmt in ("docker-archive", "oci-archive"):
        archive = str(tmp_path / f"untagged.{fmt}")
        bastion.ok("save", "--format", fmt, "-o", archive, new_id)
        config = json.loads(
            subprocess.run(
                [SKOPEO, "inspect", "--config", f"{fmt}:{archive}"], capture_output=True, check=True
            ).stdout
        )
        assert config["config"]["Cmd"] == ["/bin/echo", "imported"]
        assert bastion.ok("load", "-i", archive) == f"Loaded image ID: {new_id}\n"
    # a named import that a container uses: `prune` spares it (and every tagged image)
    named = "example.org/imgverbs/imported:1"
    bastion.ok("import", tar, named)
    cid = bastion.ok("create", named, "true").strip()
    try:
        pruned = bastion.ok("image", "prune")
        assert f"deleted: {new_id}" in pruned
        assert not os.path.exists(os.path.join(bastion.root, "images/blobs/sha256", new_id[7:]))
        assert bastion("image", "inspect", new_id).returncode != 0
        bastion.ok("tag", named, "example.org/imgverbs/unused:1")
        bastion.ok("rmi", "example.org/imgverbs/unused:1")  # a name only: the image stays
        assert bastion.ok("image", "inspect", named)
    finally:
        bastion.ok("rm", cid)
    pruned = bastion.ok("image", "prune", "-a")
    assert f"untagged: {named}" in pruned
    assert f"untagged: {bastion.image}" in pruned
    assert bastion.ok("images", "-q") == ""
    bastion.ok("pull", "-q", bastion.image)  # back for the other tests


def test_a_moved_name_leaves_the_old_image_untagged(
    bastion: Bastion, busybox_rootfs: str, tmp_path: Path
) -> None:
    name = "example.org/imgverbs/moving:1"
    tar = clients.write_rootfs_tar(busybox_rootfs, str(tmp_path / "rootfs.tar"))
    first = bastion.ok("import", "-c", "CMD echo first", tar, name).strip()
    second = bastion.ok("import", "-c", "CMD echo second", tar, name).strip()
    assert first != second
    rows = [line.split()[:3] for line in bastion.ok("images").splitlines()[1:]]
    assert ["<none>", "<none>", first[7:19]] in rows
    assert ["example.org/imgverbs/moving", "1", second[7:19]] in rows
    result = bastion("run", "--rm", first[7:19])  # still there, by its id
    assert (result.returncode, result.stdout) == (0, "first\n"), result.stderr
    assert f"deleted: {first}" in bastion.ok("image", "prune")
    assert bastion("image", "inspect", first).returncode != 0
    bastion.ok("rmi", name)
    assert bastion.ok("images", "-q").split() == [image_id(bastion, bastion.image)[7:19]]


@pytest.fixture(scope="module")
def token_registry(bastion: Bastion) -> Iterator[tuple[str, str]]:
    """A registry behind token auth holding busybox, and a private auth file (its path)."""
    with private_dir("bst-test-imgverbs-auth-") as workdir:
        token = TokenServer(workdir, {USER: PASSWORD})
        try:
            running = start_registry(workdir, token=token)
            try:
                skopeo_copy(
                    f"docker://{bastion.image}",
                    f"docker://{running.host}/secret/busybox:1",
                    "--src-tls-verify=false",
                    "--dest-tls-verify=false",
                    f"--dest-creds={USER}:{PASSWORD}",
                    workdir=workdir,
                )
                yield running.host, os.path.join(workdir, "auth", "auth.json")
            finally:
                running.stop()
        finally:
            token.stop()


def test_login_then_pull_logout(bastion: Bastion, token_registry: tuple[str, str]) -> None:
    host, auth_file = token_registry
    env = {"REGISTRY_AUTH_FILE": auth_file}
    image = f"{host}/secret/busybox:1"
    refused = run_cli(bastion, "pull", "-q", image, env=env)
    assert refused.returncode != 0
    assert b"error[registry-unauthorized]" in refused.stderr
    bad = run_cli(bastion, "login", "-u", USER, "--password-stdin", host, env=env, stdin=b"nope\n")
    assert bad.returncode != 0 and not os.path.exists(auth_file)
    (line,) = bad.stderr.decode().splitlines()  # one clear line
    assert line.startswith("bastion: error[registry-unauthorized]") and USER in line
    good = run_cli(
        bastion, "login", "-u", USER, "--password-stdin", host, env=env, stdin=PASSWORD.encode()
    )
    assert (good.returncode, good.stdout) == (0, b"Login Succeeded\n"), good.stderr
    with open(auth_file) as f:
        entry = json.load(f)["auths"][host]
    assert base64.b64decode(entry["auth"]).decode() == f"{USER}:{PASSWORD}"
    assert os.stat(auth_file).st_mode & 0o777 == 0o600
    pulled = run_cli(bastion, "pull", "-q", image, env=env)
    assert pulled.returncode == 0, pulled.stderr
    try:
        result = bastion("run", "--rm", image, "echo", "logged in")
        assert (result.returncode, result.stdout) == (0, "logged in\n"), result.stderr
    finally:
        bastion.ok("rmi", image)
    assert run_cli(bastion, "logout", host, env=env).returncode == 0
    with open(auth_file) as f:
        assert host not in json.load(f)["auths"]
    again = run_cli(bastion, "logout", host, env=env)
    assert again.returncode != 0 and b"error[registry-not-logged-in]" in again.stderr
