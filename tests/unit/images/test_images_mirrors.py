"""Registry mirrors: where they are configured and how each is read."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from bastion.images.errors import RegistryError
from bastion.images.mirrors import MIRRORS_ENV, Mirror, configured, parse_mirror

if TYPE_CHECKING:
    from pathlib import Path


def test_parse_mirror_schemes() -> None:
    assert parse_mirror("127.0.0.1:5000") == Mirror("127.0.0.1:5000", None)
    assert parse_mirror("http://127.0.0.1:5000/") == Mirror("127.0.0.1:5000", False)
    assert parse_mirror("https://mirror.example") == Mirror("mirror.example", True)
    with pytest.raises(RegistryError, match="not a registry mirror"):
        parse_mirror("https://mirror.example/some/path")


def test_environment_wins_over_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "registries.json").write_text(
        json.dumps({"registry-mirrors": ["http://a:1"], "mirrors": {"quay.io": ["b:2"]}})
    )
    monkeypatch.delenv(MIRRORS_ENV, raising=False)
    assert configured(str(tmp_path)) == {
        "docker.io": [Mirror("a:1", False)],
        "quay.io": [Mirror("b:2", None)],
    }
    monkeypatch.setenv(MIRRORS_ENV, "c:3, https://d:4")
    assert configured(str(tmp_path)) == {"docker.io": [Mirror("c:3"), Mirror("d:4", True)]}


def test_bad_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MIRRORS_ENV, raising=False)
    path = tmp_path / "registries.json"
    path.write_text('{"registry-mirrors": "not a list"}')
    with pytest.raises(RegistryError) as err:
        configured(str(tmp_path))
    assert err.value.where == str(path)
    path.write_text("{")
    with pytest.raises(RegistryError, match="cannot read"):
        configured(str(tmp_path))
