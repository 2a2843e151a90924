"""Container state directories: <root>/<id>/{state.json, config.json, exec.fifo, lock}.

Written so that a `create` killed at any instant leaves something `delete --force` can finish:
- the directory appears atomically (built as a hidden temp dir, then renamed into place), so
  there is never an `<id>` directory without a state.json;
- state.json is replaced atomically (write a temp file, fsync-free rename: the runtime root lives
  on tmpfs (/run) and a crash of the host loses the containers anyway, as with runc);
- every operation that changes a container holds an exclusive flock on `<id>/lock`.
"""

from __future__ import annotations

import fcntl
import os
import time

from bastion.identity import DEFAULT_STATE_ROOT, GONE_DIR, IDENTITY_FILE
from bastion.runtime.errors import ContainerExists, ContainerNotFound, InvalidId
from bastion.runtime.state import decode_state, encode_state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.runtime.state import ContainerState

DEFAULT_ROOT = DEFAULT_STATE_ROOT
STATE_FILE = "state.json"
CONFIG_FILE = "config.json"
FIFO_FILE = "exec.fifo"
LOCK_FILE = "lock"
#: In the root itself: the parent cgroups creates made (cgroup_parents.py).
CGROUP_PARENTS_FILE = ".cgroup-parents"
_TMP_PREFIX = ".creating-"
#: How long `delete` keeps a container's identity record in `identity.GONE_DIR`.
GONE_KEEP = 60.0
#: GONE_DIR is scanned for records to drop at most this often (seconds): a scan stats every
#: record, ~0.4 ms of a `delete` for the ~60 a busy minute keeps. Records live GONE_KEEP to
#: GONE_KEEP + GONE_PRUNE_EVERY seconds.
GONE_PRUNE_EVERY = 10.0
#: In GONE_DIR: its mtime is the time of the last scan (a sensor reads no identity from it).
GONE_PRUNED_MARK = ".pruned"


def check_id(container_id: str) -> None:
    """Reject ids that are empty or could name a path outside the root (runc's rule, roughly)."""
    if (
        not container_id
        or container_id in (".", "..")
        or container_id.startswith(".")
        or "/" in container_id
        or "\0" in container_id
        or len(container_id) > 1024
    ):
        raise InvalidId(
            f"invalid container id {container_id!r}",
            hint="use letters, digits, '_', '-', '+' and '.' (not first)",
        )


class StateDir:
    """One container's directory under the runtime root."""

    __slots__ = ("id", "path", "root")

    def __init__(self, root: str, container_id: str) -> None:
        self.root = root
        self.id = container_id
        self.path = os.path.join(root, container_id)

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    @property
    def fifo(self) -> str:
        return self.file(FIFO_FILE)

    def read(self) -> ContainerState:
        path = self.file(STATE_FILE)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise ContainerNotFound(
                f"container {self.id!r} does not exist", where=self.path
            ) from None
        return decode_state(data, path)

    def write(self, state: ContainerState) -> None:
        write_atomic(self.file(STATE_FILE), encode_state(state))

    def lock(self) -> int:
        """Take the exclusive lock; returns the fd to pass to `unlock`."""
        try:
            fd = os.open(self.file(LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            raise ContainerNotFound(
                f"container {self.id!r} does not exist", where=self.path
            ) from None
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    @staticmethod
    def unlock(fd: int) -> None:
        os.close(fd)  # closing drops the flock

    def remove(self) -> None:
        self._keep_identity()
        remove_tree(self.path)

    def _keep_identity(self) -> None:
        """Move identity.json to `GONE_DIR` (a rename: cheap), dated now, and drop the records
        kept there longer than `GONE_KEEP` seconds."""
        gone = os.path.join(self.root, GONE_DIR)
        kept = os.path.join(gone, f"{self.id}.json")
        record = self.file(IDENTITY_FILE)
        try:
            os.rename(record, kept)
        except OSError:
            # ENOENT for a missing record (a create that failed early: nothing to keep) and
            # for a missing GONE_DIR alike: only the second is made and tried again
            if not os.path.exists(record):
                return
            try:
                os.mkdir(gone, 0o711)
            except FileExistsError:
                pass
            except OSError:
                return
            try:
                os.rename(record, kept)
            except OSError:
                return
        now = time.time()
        os.utime(kept, (now, now))
        prune_gone(gone, now)


def prune_gone(gone: str, now: float) -> None:
    """Drop the records of `gone` (GONE_DIR) kept longer than GONE_KEEP, unless it was scanned
    less than GONE_PRUNE_EVERY seconds ago."""
    mark = os.path.join(gone, GONE_PRUNED_MARK)
    try:
        if now - os.stat(mark).st_mtime < GONE_PRUNE_EVERY:
            return
    except FileNotFoundError:
        pass
    except OSError:
        return
    try:
        os.close(os.open(mark, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        os.utime(mark, (now, now))
    except OSError:
        return
    with os.scandir(gone) as entries:
        for entry in entries:
            try:
                if entry.name != GONE_PRUNED_MARK and now - entry.stat().st_mtime > GONE_KEEP:
                    os.unlink(entry.path)
            except OSError:
                continue


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def reserve(root: str, container_id: str, state: ContainerState, config: bytes) -> StateDir:
    """Create <root>/<id> with its first state.json and a private copy of config.json, atomically.

    The private copy is what every later operation reads, so edits to the bundle's config.json
    after `create` have no effect (runtime-spec: "changes to config.json after create ...").
    """
    check_id(container_id)
    os.makedirs(root, mode=0o711, exist_ok=True)
    final = StateDir(root, container_id)
    if os.path.lexists(final.path):
        raise ContainerExists(f"container {container_id!r} already exists", where=final.path)
    tmp = os.path.join(root, f"{_TMP_PREFIX}{container_id}.{os.getpid()}")
    os.mkdir(tmp, 0o711)
    try:
        write_atomic(os.path.join(tmp, CONFIG_FILE), config)
        write_atomic(os.path.join(tmp, STATE_FILE), encode_state(state))
        try:
            os.rename(tmp, final.path)  # fails if another create won the race
        except OSError:
            raise ContainerExists(
                f"container {container_id!r} already exists", where=final.path
            ) from None
    except BaseException:
        remove_tree(tmp)
        raise
    return final


def open_existing(root: str, container_id: str) -> StateDir:
    check_id(container_id)
    sd = StateDir(root, container_id)
    if not os.path.isfile(sd.file(STATE_FILE)):
        raise ContainerNotFound(f"container {container_id!r} does not exist", where=sd.path)
    return sd


def list_ids(root: str) -> list[str]:
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(
        n for n in names if not n.startswith(".") and os.path.isdir(os.path.join(root, n))
    )


def stale_reservations(root: str, container_id: str) -> list[str]:
    """Temp dirs a `create` killed before its rename left behind (removed by delete --force)."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    prefix = f"{_TMP_PREFIX}{container_id}."
    return [os.path.join(root, n) for n in names if n.startswith(prefix)]


def remove_tree(path: str) -> None:
    """rm -r without following symlinks (state dirs hold only plain files and a fifo)."""
    try:
        entries = os.listdir(path)
    except FileNotFoundError:
        return
    for name in entries:
        child = os.path.join(path, name)
        if os.path.isdir(child) and not os.path.islink(child):
            remove_tree(child)
        else:
            try:
                os.unlink(child)
            except FileNotFoundError:
                pass
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
