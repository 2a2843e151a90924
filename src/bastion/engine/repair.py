"""Putting right what a killed `bastion` left behind (`system prune` runs `repair` first; `_sync`
settles one container's half-done `start` whenever any call looks at it).

A `bastion run` killed at any step leaves one of these, and nothing else (the test sweeps
the steps with `stop_point`):

- after the pull: an image, which is whole (tagged last) and stays;
- in `create`: a container directory without a record; `create` holds the directory's start
  lock until the record is in, so a directory without a record whose lock is free is debris;
- in `start`, after the overlay mount: a record in `starting` whose lock nobody holds, and the
  overlay mounted (`_sync` records it exited with 255 and unmounts it);
- after the runtime's create: the same, plus a monitor and an init waiting for a start that
  never comes (`settle_unstarted` deletes it through the runtime: init, cgroup, state);
- after the start: a record in `starting` whose container runs (`_sync` makes it `running`).

And, from an engine killed while removing, runtime state dirs and cgroups of containers whose
record is gone (only those whose bundle is one of this engine's container directories: the
runtime root may be shared), and `conmon.pid` files naming a monitor that has exited (the pid
could be reused by an unrelated process that `monitor.wait` would then wait on).
"""

from __future__ import annotations

import contextlib
import os
import signal

from bastion._sys.tree import remove_tree
from bastion.engine import monitor
from bastion.engine.container_files import start_lock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.engine.engine import Engine
    from bastion.engine.metadata import ContainerRecord

#: Test-only (documented as such, like the runtime's BASTION_TEST_CRASH_AT): the step of
#: `run` at which the engine stops itself with SIGSTOP, so that a test can SIGKILL it exactly
#: there. Steps, in order: pulled, mounted, created (the runtime's create), started.
STOP_ENV = "BASTION_TEST_STOP_AT"


def stop_point(step: str) -> None:
    if os.environ.get(STOP_ENV) == step:
        os.kill(os.getpid(), signal.SIGSTOP)


def settle_unstarted(
    runtime_root: str, paths: monitor.MonitorPaths, record: ContainerRecord
) -> bool:
    """A `start` died after the runtime's create and before its start: delete the container
    through the runtime (its init waits on the exec fifo) and wait for its monitor to end.
    False when the runtime says it was started (it runs: nothing to do)."""
    from bastion.runtime.container import Container
    from bastion.runtime.errors import ContainerNotFound
    from bastion.runtime.status import Status

    try:
        container = Container.load(runtime_root, record.id)
    except ContainerNotFound:
        return False
    if container.status not in (Status.CREATING, Status.CREATED):
        return False
    with contextlib.suppress(Exception):
        container.delete(force=True)
    monitor.wait(paths, 10)
    return True


def repair(engine: Engine) -> list[str]:
    """Drop stale monitor pid files, settle every record, then remove what no record owns;
    returns what it removed."""
    directory_of = engine._directory
    containers = os.path.dirname(directory_of("x"))
    names = sorted(os.listdir(containers))
    fixed = [
        f"monitor pid file of {name}"
        for name in names
        if _drop_dead_pid_file(monitor.MonitorPaths(directory_of(name)), name)
    ]
    records = {r.id: r for r in engine.containers(all=True)}  # `_sync` settles each
    for name in names:
        paths = monitor.MonitorPaths(directory_of(name))
        if name in records or not os.path.isdir(paths.directory):
            continue
        try:
            lock = start_lock(paths.directory, blocking=False)  # held by a `create` in progress
        except FileNotFoundError:
            continue  # removed meanwhile
        if lock is None:
            continue
        try:
            if engine.metadata.container(name) is not None:
                continue  # its create finished meanwhile
            _release(engine, name)
            remove_tree(paths.directory, ignore_errors=True)
            fixed.append(f"container directory {name}")
        finally:
            os.close(lock)
    for container_id in _runtime_orphans(engine, containers, records):
        _release(engine, container_id)
        fixed.append(f"runtime state of {container_id}")
    from bastion.engine.builder.workspace import sweep  # what killed builds left

    fixed += [f"build directory {path}" for path in sweep(engine.root, engine.runtime_root)]
    return fixed


def _release(engine: Engine, container_id: str) -> None:
    from bastion.images import ContainerFilesystem

    engine._release(
        container_id, ContainerFilesystem(os.path.join(engine._directory(container_id), "fs"))
    )


def _runtime_orphans(
    engine: Engine, containers: str, records: dict[str, ContainerRecord]
) -> list[str]:
    from bastion.runtime.container import list_containers

    out = []
    for container in list_containers(engine.runtime_root):
        if container.id in records or not container.bundle.startswith(containers + os.sep):
            continue
        if engine.metadata.container(container.id) is None:
            out.append(container.id)
    return out


def _drop_dead_pid_file(paths: monitor.MonitorPaths, container_id: str) -> bool:
    pid = monitor.monitor_pid(paths)
    if pid is None or _is_monitor(pid, container_id):
        return False
    with contextlib.suppress(FileNotFoundError):
        os.unlink(paths.conmon_pid)
    return True


def _is_monitor(pid: int, container_id: str) -> bool:
    """Whether `pid` is a live conmon of this container (not a process that reused the pid)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return bool(argv) and argv[0].endswith(b"conmon") and container_id.encode() in argv
