"""State directories: atomic reservation, ids, listing, removal (no privileges needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bastion.runtime import store
from bastion.runtime.errors import ContainerExists, ContainerNotFound, InvalidId

if TYPE_CHECKING:
    from .conftest import MakeState


def test_reserve_writes_state_and_private_config(tmp_path: Path, saved: MakeState) -> None:
    sd = store.reserve(str(tmp_path), "abc", saved(), b'{"x": 1}')
    assert json.loads((tmp_path / "abc" / "state.json").read_text())["status"] == "creating"
    assert (tmp_path / "abc" / "config.json").read_bytes() == b'{"x": 1}'
    assert sd.read() == saved()
    # nothing else: no temp dir left behind
    assert sorted(os.listdir(tmp_path)) == ["abc"]


def test_reserve_twice_fails_and_keeps_the_first(tmp_path: Path, saved: MakeState) -> None:
    store.reserve(str(tmp_path), "abc", saved(pid=1), b"{}")
    with pytest.raises(ContainerExists) as err:
        store.reserve(str(tmp_path), "abc", saved(pid=2), b"{}")
    assert err.value.reference == "container-exists"
    assert store.open_existing(str(tmp_path), "abc").read() == saved(pid=1)
    assert sorted(os.listdir(tmp_path)) == ["abc"]


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "a/b", ".hidden", "a\0b", "x" * 1025])
def test_ids_that_could_escape_are_refused(tmp_path: Path, bad: str, saved: MakeState) -> None:
    with pytest.raises(InvalidId):
        store.reserve(str(tmp_path), bad, saved(bad), b"{}")
    assert os.listdir(tmp_path) == []


def test_write_is_atomic_replace(tmp_path: Path, saved: MakeState) -> None:
    sd = store.reserve(str(tmp_path), "c1", saved("c1"), b"{}")
    sd.write(saved("c1", status="created"))
    assert sd.read() == saved("c1", status="created")
    assert sorted(os.listdir(sd.path)) == ["config.json", "state.json"]


def test_list_ignores_hidden_and_files(tmp_path: Path, saved: MakeState) -> None:
    store.reserve(str(tmp_path), "b", saved("b"), b"{}")
    store.reserve(str(tmp_path), "a", saved("a"), b"{}")
    (tmp_path / ".creating-z.1").mkdir()
    (tmp_path / "stray-file").write_text("")
    assert store.list_ids(str(tmp_path)) == ["a", "b"]
    assert store.stale_reservations(str(tmp_path), "z") == [str(tmp_path / ".creating-z.1")]
    assert store.list_ids(str(tmp_path / "missing")) == []


def test_open_missing_and_remove(tmp_path: Path, saved: MakeState) -> None:
    with pytest.raises(ContainerNotFound) as err:
        store.open_existing(str(tmp_path), "nope")
    assert err.value.reference == "container-not-found"
    sd = store.reserve(str(tmp_path), "gone", saved("gone"), b"{}")
    fd = sd.lock()
    sd.unlock(fd)
    sd.remove()
    assert not (tmp_path / "gone").exists()
    sd.remove()  # idempotent


def test_remove_tree_does_not_follow_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "link").symlink_to(outside)
    store.remove_tree(str(victim))
    assert (outside / "keep").exists()
    assert not victim.exists()


def _aged(path: Path, age: float, now: float) -> None:
    path.write_text("{}")
    os.utime(path, (now - age, now - age))


def test_kept_identity_records_are_dropped_after_a_minute_scanning_seldom(tmp_path: Path) -> None:
    gone = tmp_path / ".gone"
    gone.mkdir()
    now = 1_000_000.0
    _aged(gone / "old.json", store.GONE_KEEP + 1, now)
    _aged(gone / "fresh.json", store.GONE_KEEP - 1, now)
    store.prune_gone(str(gone), now)
    assert sorted(os.listdir(gone)) == [store.GONE_PRUNED_MARK, "fresh.json"]
    # within GONE_PRUNE_EVERY of that scan nothing is scanned, so an expired record stays...
    later = now + store.GONE_PRUNE_EVERY - 1
    _aged(gone / "old2.json", store.GONE_KEEP + 1, later)
    store.prune_gone(str(gone), later)
    assert (gone / "old2.json").exists() and (gone / "fresh.json").exists()
    # ...until the next scan is due: then every expired record goes, the mark stays
    due = now + store.GONE_PRUNE_EVERY + 1
    store.prune_gone(str(gone), due)
    assert sorted(os.listdir(gone)) == [store.GONE_PRUNED_MARK]
