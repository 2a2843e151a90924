"""What `exec` runs (engine/exec.py's `_process`): the container's process with Docker's exec
rules for the command, env, user, working directory and terminal, and the container's
/etc/passwd read inside its root."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from bastion.engine.errors import InvalidOptionError
from bastion.engine.exec import ExecConfig, _process, _read_in_root
from bastion.oci.spec import Process, User

if TYPE_CHECKING:
    from pathlib import Path

BASE = Process(
    cwd="/app",
    args=("sleep", "1000"),
    env=("PATH=/bin", "BASE=run", "HOME=/root"),
    user=User(uid=0, gid=0),
    no_new_privileges=True,
)
PASSWD = "root:x:0:0:root:/root:/bin/sh\nbst:x:1000:1000:bst:/home/bst:/bin/sh\n"
GROUP = "root:x:0:\nbst:x:1000:\nextra:x:2000:bst\n"


@pytest.fixture
def rootfs(tmp_path: Path) -> str:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(PASSWD)
    (tmp_path / "etc" / "group").write_text(GROUP)
    return str(tmp_path)


def test_defaults_are_the_containers(rootfs: str) -> None:
    process = _process(BASE, rootfs, ExecConfig(command=("ls", "-l")))
    assert process.args == ("ls", "-l")
    assert (process.cwd, process.user, process.terminal) == ("/app", BASE.user, False)
    assert process.env == BASE.env
    assert process.no_new_privileges  # the rest of the container's process is kept


def test_env_user_workdir_and_terminal(rootfs: str) -> None:
    config = ExecConfig(
        command=("id",), user="bst", env=("BASE=exec", "NEW=1"), workdir="/tmp", tty=True
    )
    process = _process(BASE, rootfs, config)
    assert process.env == ("PATH=/bin", "BASE=exec", "HOME=/home/bst", "NEW=1", "TERM=xterm")
    assert process.user == User(uid=1000, gid=1000, additional_gids=(2000,))
    assert (process.cwd, process.terminal) == ("/tmp", True)
    # -e HOME wins over the passwd entry's
    process = _process(BASE, rootfs, ExecConfig(command=("id",), user="bst", env=("HOME=/x",)))
    assert "HOME=/x" in process.env


def test_numeric_user_and_group(rootfs: str) -> None:
    process = _process(BASE, rootfs, ExecConfig(command=("id",), user="4242:4343"))
    assert (process.user.uid, process.user.gid) == (4242, 4343)


def test_bad_user_and_relative_workdir_are_refused(rootfs: str) -> None:
    with pytest.raises(InvalidOptionError, match="unable to find user nobody-here"):
        _process(BASE, rootfs, ExecConfig(command=("id",), user="nobody-here"))
    with pytest.raises(InvalidOptionError, match="absolute path"):
        _process(BASE, rootfs, ExecConfig(command=("id",), workdir="tmp"))


def test_passwd_is_read_inside_the_containers_root(tmp_path: Path) -> None:
    outside = tmp_path / "host-passwd"
    outside.write_text("host:x:7:7::/host:/bin/sh\n")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    # an absolute symlink in the container means the container's path, not the host's
    os.symlink(str(outside), root / "etc" / "passwd")
    assert _read_in_root(str(root), "etc/passwd") == ""
    os.symlink("../../../../host-passwd", root / "etc" / "group")
    assert _read_in_root(str(root), "etc/group") == ""
    (root / "host-passwd").write_text("inside\n")
    os.unlink(root / "etc" / "passwd")
    os.symlink("/host-passwd", root / "etc" / "passwd")
    assert _read_in_root(str(root), "etc/passwd") == "inside\n"
