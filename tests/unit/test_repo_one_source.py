"""Each constant, path and helper is written once (issue 10 item 5), and tests find their
reference data through `bastion_testing.shared_data`, never through one machine's path."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bastion._sys import ns
from bastion._sys.proc import unescape_mountinfo
from bastion.identity import DEFAULT_STATE_ROOT
from bastion.oci import vocabulary
from bastion.oci.vocabulary import NAMESPACES
from bastion.runtime import store
from bastion.runtime.namespaces import NAMESPACE_TYPES
from bastion.sensor.state import SensorState
from bastion_testing import shared_data

REPO = Path(__file__).resolve().parents[2]
ME = Path(__file__).resolve()


def _text_files(*tops: str) -> list[Path]:
    suffixes = (".py", ".md", ".c", ".h", ".txt", ".toml")
    return [
        path
        for top in tops
        for path in sorted((REPO / top).rglob("*"))
        if path.suffix in suffixes and path != ME
    ]


def test_the_state_root_is_written_once() -> None:
    holders = [
        str(p.relative_to(REPO))
        for p in _text_files("src", "tests", "bench")
        if p.suffix == ".py" and '"/run/bastion"' in p.read_text()
    ]
    assert holders == ["src/bastion/identity.py"]
    # The runtime writes where the sensor reads.
    assert store.DEFAULT_ROOT == DEFAULT_STATE_ROOT
    assert SensorState().containers.runtime_roots == (DEFAULT_STATE_ROOT,)


def test_docs_and_comments_name_files_inside_the_repository() -> None:
    """The conventions and the plan live in docs/ (conventions.md, architecture.md); nothing
    points at the notes beside the clone (CONVENTIONS.md, DESIGN.md, ANCHORS.md)."""
    pattern = re.compile(r"CONVENTIONS(\.md)?\b|DESIGN\.md|ANCHORS\.md")
    roots = ("src", "tests", "docs", "bench", "scripts")
    files = [*_text_files(*roots), REPO / "README.md", REPO / "pyproject.toml", REPO / "Makefile"]
    offenders = [
        f"{p.relative_to(REPO)}:{n}"
        for p in files
        if p.is_file()
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
    for cited in ("docs/conventions.md", "docs/architecture.md", "docs/errors.md"):
        assert (REPO / cited).is_file()


def test_no_machine_path_to_the_shared_data() -> None:
    pattern = re.compile(r"/work/shared|/work/main|\.\./shared/")
    offenders = [
        str(p.relative_to(REPO))
        for p in _text_files("src", "tests", "bench", "docs")
        if pattern.search(p.read_text())
    ]
    assert offenders == []


def test_shared_data_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(shared_data.ENV, str(tmp_path))
    assert shared_data.shared_path(*shared_data.CAPTURES) == tmp_path / "falco" / "captures"
    assert not shared_data.present(*shared_data.CAPTURES)
    reason = shared_data.missing_reason(*shared_data.CAPTURES)
    assert str(tmp_path / "falco" / "captures") in reason and shared_data.ENV in reason
    with pytest.raises(pytest.skip.Exception, match="falco/captures"):
        shared_data.require(*shared_data.CAPTURES)
    (tmp_path / "falco" / "captures").mkdir(parents=True)
    assert shared_data.require(*shared_data.CAPTURES).is_dir()
    monkeypatch.delenv(shared_data.ENV)
    assert shared_data.shared_dir() == REPO.parent / "shared"


@pytest.mark.parametrize(
    ("field", "path"),
    [
        ("/plain", "/plain"),
        ("/with\\040space", "/with space"),
        ("/tab\\011and\\012newline", "/tab\tand\nnewline"),
        ("/back\\134slash", "/back\\slash"),
        ("/not\\0an\\escape", "/not\\0an\\escape"),
    ],
)
def test_mountinfo_unescapes_as_proc_5_says(field: str, path: str) -> None:
    assert unescape_mountinfo(field) == path


def test_namespace_flags_have_one_definition() -> None:
    # oci.vocabulary holds them; _sys.ns (the syscalls) takes them as arguments.
    assert not [name for name in vars(ns) if name.startswith("CLONE_")]
    assert set(NAMESPACES.values()) == {
        value for name, value in vars(vocabulary).items() if name.startswith("CLONE_NEW")
    }
    # Each OCI type's /proc/<pid>/ns file exists under the name the runtime joins it by.
    for kind, (flag, proc_name) in NAMESPACE_TYPES.items():
        assert flag == NAMESPACES[kind]
        assert os.path.exists(f"/proc/self/ns/{proc_name}"), kind
