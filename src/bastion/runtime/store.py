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

from bastion.identity import DEFAULT_STATE_ROOT
from bastion.runtime.errors import ContainerExists, ContainerNotFound, InvalidId
from bastion.runtime.lean import (
    CGROUP_PARENTS_FILE,
    CONFIG_FILE,
    FIFO_FILE,
    GONE_KEEP,
    GONE_PRUNE_EVERY,
    GONE_PRUNED_MARK,
    LOCK_FILE,
    STATE_FILE,
    TMP_PREFIX,
    prune_gone,
    remove_state_dir,
    remove_tree,
    stale_reservations,
    valid_id,
)
from bastion.runtime.state import decode_state, encode_state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.runtime.state import ContainerState

DEFAULT_ROOT = DEFAULT_STATE_ROOT
# The state directory's names and its removal live in lean.py: the lean `start` and `delete`
# use them before `os` or this module is imported.
_TMP_PREFIX = TMP_PREFIX


def check_id(container_id: str) -> None:
    """Reject ids that are empty or could name a path outside the root (runc's rule, roughly)."""
    if not valid_id(container_id):
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
        remove_state_dir(self.root, self.id)


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    _write_new(tmp, data, mode)
    os.rename(tmp, path)


def _write_new(path: str, data: bytes, mode: int = 0o600) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


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
        # written in place: nothing reads the directory before its rename below makes it
        # the container's (a killed create leaves it to `.creating-*`'s sweep), so a file's own
        # rename would cost a create two more metadata updates for nothing
        _write_new(os.path.join(tmp, CONFIG_FILE), config)
        _write_new(os.path.join(tmp, STATE_FILE), encode_state(state))
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


__all__ = [
    "CGROUP_PARENTS_FILE",
    "CONFIG_FILE",
    "DEFAULT_ROOT",
    "FIFO_FILE",
    "GONE_KEEP",
    "GONE_PRUNED_MARK",
    "GONE_PRUNE_EVERY",
    "LOCK_FILE",
    "STATE_FILE",
    "StateDir",
    "check_id",
    "list_ids",
    "open_existing",
    "prune_gone",
    "remove_tree",
    "reserve",
    "stale_reservations",
    "write_atomic",
]
