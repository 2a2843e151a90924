"""A container's state directory as `create` leaves a plain one, made by hand under a temp dir.

No privileges: the "cgroup directories" are empty directories under the temp dir (rmdir is what
delete does to them), the init is this test process (alive) or one that has exited (gone), the
freezer file is a file the test writes. Enough for the lean `start` and `delete`
(bastion/runtime/lean.py), the compiled front (cli/runc/front.c, reading the plain record) and
the full path's `Container` to act on, side by side.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bastion._record import replace
from bastion._sys.proc import start_time
from bastion.runtime.lean import plain_record
from bastion.runtime.state import encode_state
from bastion_testing.runtime_states import saved_state

CGROUP = "/bastion-unit/plain"
IDENTITY = b'{"id": "plain-identity-record"}'


def make_plain(base: Path, container_id: str = "c1", *, alive: bool = True, **changes: Any) -> str:
    """`<base>/root/<container_id>` for a created container (`alive`: its init is this
    process) or a stopped one; returns the root. `changes` edit the ContainerState; the
    freezer file (thawed) and the cgroup directories are under `base`."""
    root = base / "root"
    mounts = [base / "cgroup" / name for name in ("cpu", "memory", "unified")]
    dirs = [f"{m}{CGROUP}" for m in mounts]
    for directory in dirs:
        os.makedirs(directory)
    freezer = base / "freezer.state"
    freezer.write_text("THAWED\n")
    pid, pid_start = (os.getpid(), start_time(os.getpid())) if alive else _dead_process()
    state = saved_state(
        container_id,
        status="created",
        bundle=str(base / "bundle"),
        rootfs=str(base / "bundle" / "rootfs"),
        cgroup_path=CGROUP,
        cgroup_preexisting=False,
        pid=pid,
        pid_start=pid_start,
        freezer_file=str(freezer),
        cgroup_dirs=dirs,
        cgroup2_dir=dirs[-1],
    )
    path = root / container_id
    path.mkdir(parents=True)
    state = replace(state, **changes)
    (path / "state.json").write_bytes(encode_state(state))
    record = plain_record(state)
    if record is not None:  # as create writes it, for the compiled front
        (path / "plain").write_bytes(record)
    (path / "config.json").write_bytes(b"{}")
    (path / "identity.json").write_bytes(IDENTITY)
    os.mkfifo(path / "exec.fifo", 0o600)
    return str(root)


def _dead_process() -> tuple[int, int | None]:
    """The pid and start time of a process that has exited and been reaped."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # a zombie: its stat is still there
    started = start_time(pid)
    os.waitpid(pid, 0)
    return pid, started


def snapshot(base: Path) -> dict[str, bytes | str]:
    """Every path under `base` with a file's bytes ("dir", "fifo" otherwise); the records
    kept in `.gone` without their mtime, which is when they were moved."""
    found: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames:
            found[os.path.relpath(os.path.join(dirpath, name), base)] = "dir"
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, base)
            if name == ".pruned":
                found[rel] = "mark"
            elif os.path.isfile(full):
                found[rel] = Path(full).read_bytes()
            else:
                found[rel] = "fifo"
    return found
