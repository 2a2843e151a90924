"""`login`'s side of the auth files: where Podman keeps them, and how an entry is written and
removed without touching the others."""

from __future__ import annotations

import base64
import json
import os
from typing import TYPE_CHECKING

import pytest

from bastion.images.auth import (
    Credentials,
    find_credentials,
    primary_auth_file,
    remove_credentials,
    store_credentials,
)
from bastion.images.errors import CredentialsError

if TYPE_CHECKING:
    from pathlib import Path


def test_primary_file_follows_podman(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert primary_auth_file() == f"/run/containers/{os.getuid()}/auth.json"
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert primary_auth_file() == str(tmp_path / "containers/auth.json")
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "mine.json"))
    assert primary_auth_file() == str(tmp_path / "mine.json")


def test_store_keeps_other_entries_and_keys(tmp_path: Path) -> None:
    path = tmp_path / "d" / "auth.json"
    path.parent.mkdir()
    other = {"auth": base64.b64encode(b"a:b").decode()}
    path.write_text(json.dumps({"auths": {"other:1": other}, "credHelpers": {"x": "y"}}))
    store_credentials("127.0.0.1:5000", Credentials("me", "pw:with:colons"), str(path))
    doc = json.loads(path.read_text())
    assert doc["credHelpers"] == {"x": "y"} and doc["auths"]["other:1"] == other
    assert base64.b64decode(doc["auths"]["127.0.0.1:5000"]["auth"]) == b"me:pw:with:colons"
    assert path.stat().st_mode & 0o777 == 0o600
    found = find_credentials("127.0.0.1:5000", [str(path)])
    assert found == Credentials("me", "pw:with:colons")
    assert remove_credentials("127.0.0.1:5000", str(path))
    assert not remove_credentials("127.0.0.1:5000", str(path))
    assert json.loads(path.read_text())["auths"] == {"other:1": other}
    assert sorted(os.listdir(path.parent)) == ["auth.json"]  # no temporary file left


def test_store_makes_a_private_directory(tmp_path: Path) -> None:
    path = tmp_path / "new" / "containers" / "auth.json"
    store_credentials("r:1", Credentials("u", "p"), str(path))
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_an_unreadable_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text("{not json")
    with pytest.raises(CredentialsError):
        store_credentials("r:1", Credentials("u", "p"), str(path))
    assert path.read_text() == "{not json"
