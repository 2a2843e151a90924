"""Driving `bastion-runc` from tests, and checking that a container left nothing behind.

`Runc(binary, root)("create", "--bundle", b, cid)` runs one command and returns its
`CompletedProcess` (text). stdout and stderr go through files, never pipes: a created or
detached container inherits them and would keep a pipe open long after bastion-runc exits.

`leftovers(root, container_id, bundle)` lists what of one container is still on the host: its
state directory (and `.creating-*` temp dirs), its cgroup in any hierarchy, processes in that
cgroup, and mounts of its rootfs in our mount namespace. `wait_no_leftovers` polls it for a few
seconds, because killed processes are reaped by the host's init, not at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING, Any

from bastion_testing import bundle as _bundle
from bastion_testing import leaks as _leaks

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: How long `wait_no_leftovers` waits for killed processes to be reaped and cgroups to go.
SETTLE_SECONDS = 5.0


class Runc:
    """`bastion-runc --root ROOT ...` as a function."""

    def __init__(self, binary: str, root: str) -> None:
        self.binary = binary
        self.root = root

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--root", self.root, *args]

    def __call__(
        self,
        *args: str,
        check: bool = False,
        env: Mapping[str, str] | None = None,
        pass_fds: Sequence[int] = (),
        prefix: Sequence[str] = (),
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run one command; `prefix` is a wrapper argv put before bastion-runc's own."""
        argv = [*prefix, *self.argv(*args)]
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            code = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=None if env is None else dict(env),
                pass_fds=tuple(pass_fds),
                timeout=timeout,
                check=False,
            ).returncode
            out.seek(0)
            err.seek(0)
            result = subprocess.CompletedProcess(argv, code, out.read(), err.read())
        if check and result.returncode != 0:
            raise AssertionError(
                f"bastion-runc {' '.join(args)} exited {result.returncode}: {result.stderr}"
            )
        return result

    def state(self, container_id: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self("state", container_id, check=True).stdout)
        return doc

    def list(self) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = json.loads(self("list", "--format", "json", check=True).stdout)
        return docs

    def wait_status(self, container_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
        """Poll `state` until the status is `status`; returns that state document."""
        deadline = time.monotonic() + timeout
        while True:
            doc = self.state(container_id)
            if doc["status"] == status:
                return doc
            if time.monotonic() > deadline:
                raise AssertionError(f"{container_id} is still {doc['status']}, not {status}")
            time.sleep(0.02)


def cgroup_path(bundle: str) -> str:
    """The bundle's `linux.cgroupsPath` (absolute, as bundle_factory writes it)."""
    path: str = _bundle.read_config(bundle)["linux"]["cgroupsPath"]
    assert path.startswith("/"), path
    return path


def cgroup_dirs(path: str, root: str = _leaks.CGROUP_ROOT) -> list[str]:
    """The directories of cgroup `path` that exist, in every hierarchy (v1 and v2)."""
    candidates = [root + path]
    candidates += [os.path.join(root, h) + path for h in sorted(os.listdir(root))]
    return [c for c in candidates if os.path.isdir(c)]


def processes_in(path: str) -> list[str]:
    """Processes whose /proc/PID/cgroup names cgroup `path` (in any hierarchy)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                lines = f.read().splitlines()
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rpartition(")")[2].split()[0]
        except OSError:  # exited while we looked
            continue
        if any(line.split(":", 2)[-1] == path or f":{path}/" in line for line in lines):
            found.append(f"pid {pid} (state {state})")
    return found


def mounts_of(path: str) -> list[str]:
    """Mount points in our mount namespace at or under `path`, or with `path` as their source."""
    with open("/proc/self/mountinfo") as f:
        return [line.strip() for line in f if path in line]


def state_entries(root: str) -> list[str]:
    """The state root's entries that are containers' (or half-made ones'): not the runtime's
    own caches, the kept identity records (`identity.GONE_DIR`) and the seccomp programs."""
    from bastion.identity import GONE_DIR
    from bastion.runtime.seccomp import CACHE_DIR

    names = os.listdir(root) if os.path.isdir(root) else []
    return sorted(n for n in names if n not in (GONE_DIR, CACHE_DIR))


def leftovers(root: str, container_id: str, bundle: str, cgroup: str | None = None) -> list[str]:
    """What of container `container_id` (made from `bundle`) is still there; [] if nothing.

    `cgroup` is the container's cgroup path, by default the bundle's `linux.cgroupsPath`.
    """
    left: list[str] = []
    names = os.listdir(root) if os.path.isdir(root) else []
    left += [f"state dir {root}/{n}" for n in names if n == container_id]
    left += [f"temp dir {root}/{n}" for n in names if n.startswith(f".creating-{container_id}.")]
    cgroup = cgroup or cgroup_path(bundle)
    left += [f"cgroup {d}" for d in cgroup_dirs(cgroup)]
    left += [f"process {p} in {cgroup}" for p in processes_in(cgroup)]
    left += [f"mount {m}" for m in mounts_of(os.path.join(bundle, "rootfs"))]
    return left


def wait_no_leftovers(
    root: str, container_id: str, bundle: str, cgroup: str | None = None
) -> list[str]:
    """`leftovers`, polled for up to SETTLE_SECONDS until empty; what is left at the end."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        left = leftovers(root, container_id, bundle, cgroup)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def error_line(stderr: str) -> str:
    """The single line of an error report; fails if stderr is not exactly one line."""
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {stderr!r}"
    return lines[0]
