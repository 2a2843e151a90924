"""The volume store (`bastion.engine.volumes`): records, in-use refusal, prune, the mounts a
container is saved with, and copy-up from a container root that may hold hostile symlinks."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

from bastion.engine.errors import InvalidOptionError, NoSuchVolumeError, VolumeInUseError
from bastion.engine.metadata import Metadata
from bastion.engine.mount_flags import requests
from bastion.engine.volumes import Volumes
from bastion_testing.records import container_record

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def volumes(tmp_path: Path) -> Iterator[Volumes]:
    metadata = Metadata(str(tmp_path / "bastion.db"))
    yield Volumes(str(tmp_path), metadata)
    metadata.close()


def _container(volumes: Volumes, cid: str, mounts: list[dict[str, Any]]) -> None:
    volumes.metadata.insert_container(
        container_record(id=cid, name=f"c-{cid}", config={"mounts": mounts})
    )


def test_create_is_idempotent_and_names_are_checked(volumes: Volumes, tmp_path: Path) -> None:
    first, made = volumes.create("data", labels={"a": "b"})
    assert made and first.mountpoint == str(tmp_path / "volumes" / "data" / "_data")
    assert os.path.isdir(first.mountpoint)
    again, made = volumes.create("data")
    assert not made and again.labels == {"a": "b"}
    anonymous, _ = volumes.create()
    assert anonymous.anonymous and len(anonymous.name) == 64
    assert [v.name for v in volumes.records()] == sorted(["data", anonymous.name])
    for bad in ("../x", "a", "-a", "with space"):
        with pytest.raises(InvalidOptionError):
            volumes.create(bad)


def test_in_use_volumes_are_not_removed_and_prune(volumes: Volumes) -> None:
    mounts, made = volumes.prepare(requests(("named:/n", "/anon"), (), ()))
    assert len(made) == 2 and {m["type"] for m in mounts} == {"volume"}
    anonymous = next(m["name"] for m in mounts if m["anonymous"])
    _container(volumes, "1", mounts)
    with pytest.raises(VolumeInUseError) as caught:
        volumes.remove("named")
    assert caught.value.reference == "engine-volume-in-use"
    assert volumes.prune(all=True) == {}
    volumes.metadata.delete_container("1")
    unused, _ = volumes.create("unused-named")
    with open(os.path.join(unused.mountpoint, "f"), "wb") as f:
        f.write(b"x" * 1000)
    assert volumes.prune() == {anonymous: 0}  # anonymous ones only, by default
    assert volumes.prune(all=True) == {"named": 0, "unused-named": 1000}
    assert volumes.records() == []
    assert os.listdir(volumes.directory) == []
    with pytest.raises(NoSuchVolumeError):
        volumes.remove("named")


def test_discard_removes_what_a_failed_create_made(volumes: Volumes) -> None:
    volumes.create("kept")
    _, made = volumes.prepare(requests(("kept:/k", "new:/n", "/anon"), (), ()))
    assert "kept" not in made and len(made) == 2
    volumes.discard(made)
    assert [v.name for v in volumes.records()] == ["kept"]


def test_copy_up_stays_inside_the_container_root(volumes: Volumes, tmp_path: Path) -> None:
    root = tmp_path / "merged"
    (root / "real").mkdir(parents=True)
    (root / "real" / "f").write_text("image\n")
    (root / "real" / "sub").mkdir(mode=0o700)
    (root / "real" / "link").symlink_to("/etc/passwd")
    # /seed -> /real (absolute: resolved in the root); /escape -> ../../.. then /etc (the host's
    # /etc must not be copied)
    (root / "seed").symlink_to("/real")
    (root / "escape").symlink_to("../../../../../../etc")
    mounts, _ = volumes.prepare(requests(("seed:/seed", "esc:/escape", "miss:/missing"), (), ()))
    volumes.populate(mounts, str(root))
    seed = volumes.get("seed").mountpoint
    assert sorted(os.listdir(seed)) == ["f", "link", "sub"]
    assert os.readlink(os.path.join(seed, "link")) == "/etc/passwd"  # copied, not followed
    assert os.stat(os.path.join(seed, "sub")).st_mode & 0o777 == 0o700
    assert os.listdir(volumes.get("esc").mountpoint) == []  # root/etc does not exist
    assert os.listdir(volumes.get("miss").mountpoint) == []
    # not empty any more: a later container's copy-up leaves it alone
    (root / "real" / "g").write_text("later\n")
    volumes.populate(mounts, str(root))
    assert "g" not in os.listdir(seed)


def test_a_volume_removed_before_the_container_is_recorded_is_noticed(volumes: Volumes) -> None:
    mounts, _ = volumes.prepare(requests(("raced:/r",), (), ()))
    volumes.remove("raced")  # a concurrent `volume rm` between prepare and the insert
    _container(volumes, "1", mounts)
    with pytest.raises(NoSuchVolumeError):
        volumes.check_present(mounts)
