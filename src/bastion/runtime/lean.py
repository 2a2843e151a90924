"""`start` and `delete` of a plain container on built-in modules only, and what they share with
the full path (`Container`, `store`, `cgroup_parents`): the state directory's names, the status
from what `create` recorded, the removal of a state directory and of recorded cgroup directories.

bastion-runc's compiled front (cli/runc/front.c) does `start` and `delete` of a container whose
create wrote the plain record (`plain_record`) without Python, the way this module does them.
Behind it, the Python launcher calls `start` and `delete` here (through `bastion.cli.runc.lean`)
before it imports the CLI: no `os` (~1 ms: `posix` is what it wraps), no cgroup manager, no
argument parser, no `Container`: ~1.3 ms of CPU less than the full path (docs/architecture.md,
"The create-start-delete cycle").

A container is plain when what `create` recorded in state.json is enough: its create finished,
it has no poststart (start) or poststop (delete) hook, its mounts are in its own namespace, and
its cgroup is one this create made, whose directories it recorded (with the freezer's file).
`start` also needs it `created` and thawed; `delete` needs it `stopped` with empty cgroups. For
anything else these functions return False having changed nothing, and the caller takes the full
path, which stays the reference and reports every refusal (unknown id, wrong status, a damaged
state.json) with runc's words and exit codes. There is one exception to "changed nothing": a
`delete` that has removed some of the cgroup's directories when one turns out busy returns
False, and the full path then finds those gone (as its own removal does) and kills what is left.
Once past their checks, they do what the full path does, in the same order, under the same lock.
"""

from __future__ import annotations

import posix
import time
from fcntl import LOCK_EX, flock

from bastion._sys.proc import is_alive
from bastion.identity import GONE_DIR, IDENTITY_FILE
from bastion.runtime.state import decode_state
from bastion.runtime.status import Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.runtime.state import ContainerState

# A container's state directory, <root>/<id> (store.py says how it is written).
STATE_FILE = "state.json"
CONFIG_FILE = "config.json"
FIFO_FILE = "exec.fifo"
LOCK_FILE = "lock"
#: The plain record: what bastion-runc's compiled front (cli/runc/front.c) reads instead of
#: state.json (`plain_record`).
PLAIN_FILE = "plain"
PLAIN_MAGIC = "bastion-plain 1"
#: In the root itself: the parent cgroups creates made (cgroup_parents.py).
CGROUP_PARENTS_FILE = ".cgroup-parents"
#: A state directory being made: `<TMP_PREFIX><id>.<pid>`, renamed into place once whole.
TMP_PREFIX = ".creating-"
#: How long `delete` keeps a container's identity record in `identity.GONE_DIR`.
GONE_KEEP = 60.0
#: GONE_DIR is scanned for records to drop at most this often (seconds): a scan stats every
#: record, ~0.4 ms of a `delete` for the ~60 a busy minute keeps. Records live GONE_KEEP to
#: GONE_KEEP + GONE_PRUNE_EVERY seconds.
GONE_PRUNE_EVERY = 10.0
#: In GONE_DIR: its mtime is the time of the last scan (a sensor reads no identity from it).
GONE_PRUNED_MARK = ".pruned"

_S_IFMT, _S_IFDIR = 0o170000, 0o040000


def start(root: str, container_id: str) -> bool:
    """Start a plain `created` container (write its exec fifo, as `Container.start`); False,
    with nothing done, for anything else."""
    found = _plain(root, container_id)
    if found is None or found[1].has_poststart:
        return False
    path, saved = found
    fifo = f"{path}/{FIFO_FILE}"
    lock = _lock(path)
    if lock < 0:
        return False
    try:
        if recorded_status(saved, fifo) != Status.CREATED:
            return False
        try:
            fd = posix.open(fifo, posix.O_WRONLY | posix.O_NONBLOCK | posix.O_CLOEXEC)
        except OSError:  # ENXIO: nobody reads it, the init died; the full path says so
            return False
        release_init(fd, fifo)
    finally:
        posix.close(lock)
    return True


def delete(root: str, container_id: str) -> bool:
    """Delete a plain `stopped` container (as `Container.delete`: its recorded cgroup
    directories, the parent cgroups no longer used, its state directory; its identity record
    kept in GONE_DIR); False for anything else (the module docstring says when)."""
    found = _plain(root, container_id)
    if found is None:
        return False
    path, saved = found
    dirs = saved.cgroup_dirs
    mounts = recorded_mounts(dirs, saved.cgroup_path)
    if (
        saved.status == Status.CREATING
        or saved.has_poststop
        or saved.host_mounts
        or saved.cgroup_preexisting is not False
        or dirs is None
        or mounts is None
    ):
        return False
    lock = _lock(path)
    if lock < 0:
        return False
    try:
        if recorded_status(saved, "") != Status.STOPPED or not remove_cgroup_dirs(dirs):
            return False
        if _exists(f"{root}/{CGROUP_PARENTS_FILE}"):
            from bastion.runtime.cgroup_parents import remove_empty

            remove_empty(root, saved.cgroup_path, mounts)
        for stale in stale_reservations(root, container_id):
            remove_tree(stale)
        remove_state_dir(root, container_id)
    finally:
        posix.close(lock)
    return True


def _plain(root: str, container_id: str) -> tuple[str, ContainerState] | None:
    """The state directory and record of `container_id`, if its id is valid and its state.json
    can be read and decoded (the full path reports anything else)."""
    if not valid_id(container_id) or not root:
        return None
    path = f"{root}/{container_id}"
    state = f"{path}/{STATE_FILE}"
    try:
        with open(state, "rb") as f:
            data = f.read()
        return path, decode_state(data, state)
    except Exception:  # a CorruptState, a directory: the full path says what is wrong
        return None


def _lock(path: str) -> int:
    """The container's lock taken (as `StateDir.lock`); -1 if its directory has gone."""
    try:
        fd = posix.open(
            f"{path}/{LOCK_FILE}", posix.O_RDWR | posix.O_CREAT | posix.O_CLOEXEC, 0o600
        )
    except OSError:
        return -1
    try:
        flock(fd, LOCK_EX)
    except BaseException:
        posix.close(fd)
        raise
    return fd


def plain_record(saved: ContainerState) -> bytes | None:
    """What the compiled front (cli/runc/front.c) reads for `start` and `delete` without
    Python, written by `create` after its last state.json (never rewritten after): lines of
    PLAIN_MAGIC, the init's pid and start time, the freezer file ("" without a freezer), the
    cgroup path, then the cgroup's directory in every hierarchy. None, and no record, unless
    the container is plain for both verbs (the module docstring) and no value holds a newline:
    the front then hands both to the Python path, which reads state.json."""
    dirs = saved.cgroup_dirs
    if (
        saved.status != Status.CREATED
        or saved.has_poststart
        or saved.has_poststop
        or saved.host_mounts
        or saved.cgroup_preexisting is not False
        or saved.pid <= 0
        or saved.pid_start is None
        or saved.freezer_file is None
        or dirs is None
        or recorded_mounts(dirs, saved.cgroup_path) is None
        or len(dirs) > 64  # the front's MAX_DIRS
    ):
        return None
    values = [saved.freezer_file, saved.cgroup_path, *dirs]
    if any("\n" in v or "\0" in v for v in values):
        return None
    lines = [PLAIN_MAGIC, str(saved.pid), str(saved.pid_start), *values]
    return "".join(f"{line}\n" for line in lines).encode()


# -- shared with the full path ---------------------------------------------------------------


def valid_id(container_id: str) -> bool:
    """Not empty and naming no path outside the root (runc's rule, roughly): `store.check_id`."""
    return not (
        not container_id
        or container_id in (".", "..")
        or container_id.startswith(".")
        or "/" in container_id
        or "\0" in container_id
        or len(container_id) > 1024
    )


def recorded_status(saved: ContainerState, fifo: str, *, freezer_file: bool = True) -> str | None:
    """The status from the record and the kernel with no cgroup manager; None when only the
    manager can tell (no freezer file recorded, the freezer FREEZING, or `freezer_file` False:
    a caller that holds the manager asks it). `fifo` is the exec fifo's path; "" where created
    and running need not be told apart (`delete`)."""
    if saved.status == Status.CREATING:
        # A create that died half way is never shown as running: it is stopped debris that
        # `delete --force` removes.
        creator = is_alive(saved.creator_pid, saved.creator_start)
        return Status.CREATING if creator else Status.STOPPED
    if not is_alive(saved.pid, saved.pid_start):
        return Status.STOPPED
    # The freezer first, as runc's refreshState: a paused created container is "paused".
    frozen = recorded_frozen(saved.freezer_file) if freezer_file else None
    if frozen is None:
        return None
    if frozen:
        return Status.PAUSED
    return Status.CREATED if fifo and _exists(fifo) else Status.RUNNING


def recorded_frozen(freezer_file: str | None) -> bool | None:
    """Whether the cgroup is frozen, from the freezer file create recorded ("" on a host
    without a freezer); None when not recorded or FREEZING (the manager waits for it)."""
    if freezer_file is None:
        return None
    if not freezer_file:
        return False
    try:
        with open(freezer_file, "rb") as f:
            text = f.read().strip()
    except FileNotFoundError:
        return False  # as the manager: a cgroup without the file is thawed
    if text in (b"FROZEN", b"1"):
        return True
    if text in (b"THAWED", b"0"):
        return False
    return None


def release_init(fd: int, fifo: str) -> None:
    """Let the init exec the user's process: one byte into its exec fifo (`fd`, opened for
    writing), then the fifo goes, which makes the container `running`. state.json is not
    rewritten: a rename over it makes ext4 start writing the new file back (auto_da_alloc),
    which `delete`'s unlink of it then waited for (1-4 ms, docs/architecture.md)."""
    try:
        posix.write(fd, b"0")
    finally:
        posix.close(fd)
    posix.unlink(fifo)


def remove_cgroup_dirs(dirs: list[str]) -> bool:
    """rmdir the cgroup directories create recorded; False, for the full path (kill, wait,
    remove with retries), at the first that is still in use (EBUSY: a process or a child
    cgroup in it)."""
    for directory in dirs:
        try:
            posix.rmdir(directory)
        except FileNotFoundError:
            pass
        except OSError:
            return False
    return True


def recorded_mounts(dirs: list[str] | None, path: str) -> list[str] | None:
    """The mount points of the hierarchies create made cgroup `path` in, from the directories
    it recorded (each is `<mount><path>`), so that no mount table is read; None when they were
    not recorded."""
    if not dirs or not path.startswith("/") or not all(d.endswith(path) for d in dirs):
        return None
    return sorted({d[: -len(path)] for d in dirs})


def stale_reservations(root: str, container_id: str) -> list[str]:
    """Temp dirs a `create` killed before its rename left behind (removed by delete)."""
    try:
        names = posix.listdir(root)
    except FileNotFoundError:
        return []
    prefix = f"{TMP_PREFIX}{container_id}."
    return [f"{root}/{n}" for n in names if n.startswith(prefix)]


def remove_state_dir(root: str, container_id: str) -> None:
    """Remove `<root>/<id>`, its identity record first moved to GONE_DIR (`keep_identity`)."""
    keep_identity(root, container_id)
    remove_tree(f"{root}/{container_id}")


def keep_identity(root: str, container_id: str) -> None:
    """Move the container's identity.json to GONE_DIR (a rename: cheap), dated now, and drop
    the records kept there longer than GONE_KEEP seconds."""
    gone = f"{root}/{GONE_DIR}"
    kept = f"{gone}/{container_id}.json"
    record = f"{root}/{container_id}/{IDENTITY_FILE}"
    try:
        posix.rename(record, kept)
    except OSError:
        # ENOENT for a missing record (a create that failed early: nothing to keep) and
        # for a missing GONE_DIR alike: only the second is made and tried again
        if not _exists(record):
            return
        try:
            posix.mkdir(gone, 0o711)
        except FileExistsError:
            pass
        except OSError:
            return
        try:
            posix.rename(record, kept)
        except OSError:
            return
    now = time.time()
    posix.utime(kept, (now, now))
    prune_gone(gone, now)


def prune_gone(gone: str, now: float) -> None:
    """Drop the records of `gone` (GONE_DIR) kept longer than GONE_KEEP, unless it was scanned
    less than GONE_PRUNE_EVERY seconds ago."""
    mark = f"{gone}/{GONE_PRUNED_MARK}"
    try:
        if now - posix.stat(mark).st_mtime < GONE_PRUNE_EVERY:
            return
    except FileNotFoundError:
        pass
    except OSError:
        return
    try:
        posix.close(posix.open(mark, posix.O_WRONLY | posix.O_CREAT | posix.O_CLOEXEC, 0o600))
        posix.utime(mark, (now, now))
    except OSError:
        return
    with posix.scandir(gone) as entries:
        for entry in entries:
            try:
                if entry.name != GONE_PRUNED_MARK and now - entry.stat().st_mtime > GONE_KEEP:
                    posix.unlink(entry.path)
            except OSError:
                continue


def remove_tree(path: str) -> None:
    """rm -r without following symlinks (state dirs hold only plain files and a fifo)."""
    try:
        entries = posix.listdir(path)
    except FileNotFoundError:
        return
    for name in entries:
        child = f"{path}/{name}"
        if is_dir(child):
            remove_tree(child)
        else:
            try:
                posix.unlink(child)
            except FileNotFoundError:
                pass
    try:
        posix.rmdir(path)
    except FileNotFoundError:
        pass


def is_dir(path: str) -> bool:
    """A directory, not a symlink to one (`os.path.isdir(p) and not os.path.islink(p)`)."""
    try:
        return posix.lstat(path).st_mode & _S_IFMT == _S_IFDIR
    except OSError:
        return False


def _exists(path: str) -> bool:
    try:
        posix.stat(path)
    except OSError:
        return False
    return True
