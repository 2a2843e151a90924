"""bastion-runc's lean front (bastion/cli/runc/lean.py): which command lines it takes, and that
it hands every other one to the full path untouched (no privileges: a state directory made by
hand, bastion_testing.plain_state)."""

from __future__ import annotations

import os
import posix
from pathlib import Path

import pytest

from bastion.cli.runc import lean
from bastion_testing.plain_state import make_plain, snapshot


def _fifo_reader(root: str) -> int:
    return os.open(os.path.join(root, "c1", "exec.fifo"), os.O_RDONLY | os.O_NONBLOCK)


@pytest.mark.parametrize(
    "globals_",
    [
        ["--root", "{root}"],
        ["--root={root}"],
        ["-root", "{root}"],
        ["--log", "{log}", "--log-format", "json", "--root", "{root}"],
        ["-log={log}", "-log-format=text", "--root", "{root}"],
    ],
)
def test_start_and_delete_with_the_global_options_it_knows(
    tmp_path: Path, globals_: list[str]
) -> None:
    root = make_plain(tmp_path)
    log = tmp_path / "runc.log"
    argv = [a.format(root=root, log=log) for a in globals_]
    reader = _fifo_reader(root)
    try:
        assert lean.main([*argv, "start", "c1"]) == 0
        assert os.read(reader, 8) == b"0"
    finally:
        os.close(reader)
    assert not os.path.exists(os.path.join(root, "c1", "exec.fifo"))
    assert not log.exists()  # a successful call logs nothing, as the full path


@pytest.mark.parametrize(
    "argv",
    [
        ["delete", "c1", "--force"],  # runc reads no flag after the ID either
        ["delete", "--force", "--force", "c1"],
        ["delete", "--force=true", "c1"],
        ["start", "--force", "c1"],
        ["start", "--help"],
        ["start"],
        ["start", "c1", "extra"],
        ["start", "--", "c1"],
        ["--debug", "start", "c1"],
        ["--systemd-cgroup", "start", "c1"],
        ["--log-format", "xml", "start", "c1"],
        ["--log-format"],
        ["state", "c1"],
        ["kill", "c1", "start"],
        ["--version", "start", "c1"],
    ],
)
def test_every_other_command_line_goes_to_the_full_path(tmp_path: Path, argv: list[str]) -> None:
    root = make_plain(tmp_path)
    before = snapshot(tmp_path)
    reader = _fifo_reader(root)
    try:
        assert lean.main(["--root", root, *argv]) is None
    finally:
        os.close(reader)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("flag", ["--force", "-force", "-f"])
def test_delete_force_of_a_stopped_container_is_its_delete(tmp_path: Path, flag: str) -> None:
    """What Podman calls for every container it removes: the init is gone, so the flag has
    nothing to kill and the lean path removes it as `delete ID` does."""
    root = make_plain(tmp_path, alive=False)
    assert lean.main(["--root", root, "delete", flag, "c1"]) == 0
    assert not os.path.exists(os.path.join(root, "c1"))
    assert os.path.exists(os.path.join(root, ".gone", "c1.json"))


@pytest.mark.parametrize("flag", ["--force", "-f"])
def test_delete_force_of_a_live_init_is_the_full_paths(tmp_path: Path, flag: str) -> None:
    root = make_plain(tmp_path)  # its init: this process, alive
    before = snapshot(tmp_path)
    reader = _fifo_reader(root)
    try:
        assert lean.main(["--root", root, "delete", flag, "c1"]) is None
    finally:
        os.close(reader)
    after = snapshot(tmp_path)
    after.pop("root/c1/lock")  # taken before the init is looked at, as the full path takes it
    assert after == before


def test_the_test_switch_forces_the_full_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_plain(tmp_path)
    monkeypatch.setitem(posix.environ, b"BASTION_TEST_NO_LEAN", b"1")
    reader = _fifo_reader(root)
    try:
        assert lean.main(["--root", root, "start", "c1"]) is None
    finally:
        os.close(reader)
    assert os.path.exists(os.path.join(root, "c1", "exec.fifo"))


def test_a_container_that_is_not_plain_goes_to_the_full_path(tmp_path: Path) -> None:
    root = make_plain(tmp_path, has_poststart=True)
    reader = _fifo_reader(root)
    try:
        assert lean.main(["--root", root, "start", "c1"]) is None
    finally:
        os.close(reader)
    assert lean.main(["--root", root, "delete", "c1"]) is None  # created, not stopped
    assert lean.main(["--root", root, "delete", "missing"]) is None


def test_an_os_error_past_the_checks_is_reported_as_the_full_path_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_plain(tmp_path, alive=False)
    log = tmp_path / "runc.log"

    def fail(root: str, container_id: str) -> bool:
        raise PermissionError(13, "Permission denied", "/somewhere")

    monkeypatch.setattr("bastion.runtime.lean.delete", fail)
    code = lean.main(["--log", str(log), "--log-format", "json", "--root", root, "delete", "c1"])
    assert code == 1
    assert "os-error" in capsys.readouterr().err
    assert '"reference": "os-error"' in log.read_text()
