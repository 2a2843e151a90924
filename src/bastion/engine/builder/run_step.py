"""A RUN step's container: the engine's own spec (`spec.merge` + `spec.build`, Docker's
defaults) over the build overlay's `merged`, run in the foreground by bastion-runc (`run`
creates, starts, waits and deletes, cgroup included), its stdout and stderr merged and handed
on line by line.

The container has the host's network by default (`--network host`: package managers reach
their mirrors; bastion has no bridge per build) or none (`--network none`). A cancelled build
(`cancel` set: the API client went away) kills it and waits for the runtime to delete it, so
nothing is left running, mounted or in a cgroup.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
from typing import TYPE_CHECKING

from bastion.engine.errors import BuildStepError

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from bastion.engine.engine import Engine
    from bastion.engine.spec import ImageFacts

#: What a cancelled build's RUN step raises (the API sees the client gone, a CLI ^C).
CANCELLED = "the build was cancelled"


def run_command(
    engine: Engine,
    *,
    container_id: str,
    bundle: str,
    rootfs: str,
    facts: ImageFacts,
    argv: list[str],
    env: list[str],
    network: str,
    say: Callable[[str], None],
    cancel: threading.Event | None,
) -> None:
    """Run `argv` in the build root `rootfs` (mounted) with the image's `facts` and the build
    args `env`; `BuildStepError` with the command's status if it exits non-zero."""
    from bastion import jsonio
    from bastion.engine.container_files import etc_files
    from bastion.engine.spec import ContainerOptions, build, merge
    from bastion.runtime.store import write_atomic

    options = ContainerOptions(command=tuple(argv), entrypoint="", env=tuple(env), network=network)
    process = merge(facts, options, container_id)
    spec = build(
        process,
        options,
        rootfs=rootfs,
        cgroup_path=f"{engine.cgroup_parent}/{container_id}",
        annotations={"bastion.build": "true"},
        etc_files=etc_files(bundle, process.hostname, network),
    )
    write_atomic(os.path.join(bundle, "config.json"), jsonio.dumps(spec).encode())
    argv_runtime = [engine.runtime, "--root", engine.runtime_root, "run", "--bundle", bundle]
    child = subprocess.Popen(
        [*argv_runtime, container_id],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a ^C of the CLI reaches the build, which stops the step
    )
    assert child.stdout is not None
    pending = b""
    try:
        while True:
            if cancel is not None and cancel.is_set():
                _stop(engine, container_id, child)
                raise BuildStepError(CANCELLED, exit_code=130)
            ready, _, _ = select.select([child.stdout], [], [], 0.2)
            if not ready:
                continue
            chunk = os.read(child.stdout.fileno(), 65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                say(line.decode(errors="replace") + "\n")
        if pending:
            say(pending.decode(errors="replace") + "\n")
        status = child.wait()
    except BaseException:
        _stop(engine, container_id, child)
        raise
    finally:
        child.stdout.close()
    if status != 0:
        shown = " ".join(argv)
        raise BuildStepError(
            f"The command '{shown}' returned a non-zero code: {status}", exit_code=status
        )


def _stop(engine: Engine, container_id: str, child: subprocess.Popen[bytes]) -> None:
    """Kill the step's container and wait for its runtime to delete it (or delete it)."""
    from bastion.runtime.container import Container
    from bastion.runtime.errors import ContainerNotFound

    with contextlib.suppress(ContainerNotFound, OSError, Exception):
        Container.load(engine.runtime_root, container_id).kill(signal.SIGKILL)
    try:
        child.wait(timeout=20)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    with contextlib.suppress(ContainerNotFound):
        Container.load(engine.runtime_root, container_id).delete(force=True)


def drop_mount_points(root: str, lowers: list[str], bundle: str) -> None:
    """The empty files and directories the runtime made in the upper directory as mount
    points (/etc/hostname, /etc/hosts, ... where the image has none): not the step's
    changes. `root` is still mounted here; what is removed is what the lowers lack."""
    import json

    try:
        with open(os.path.join(bundle, "config.json"), "rb") as f:
            spec = json.load(f)
    except (OSError, ValueError):
        return
    for mount in spec.get("mounts") or []:
        relative = str(mount.get("destination", "")).strip("/")
        if not relative or any(os.path.lexists(os.path.join(lower, relative)) for lower in lowers):
            continue
        path = os.path.join(root, relative)
        with contextlib.suppress(OSError):
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)  # only if empty
            elif os.path.isfile(path) and os.path.getsize(path) == 0:
                os.unlink(path)
