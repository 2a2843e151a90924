"""A container that exists under the runtime root: status, state, start, kill, delete, wait.

Every operation takes the container's lock, computes the status from the kernel's truth (is the
recorded init still the same process? does the exec fifo still exist?) and checks the operation's
predicate from `status` before doing anything.
"""

from __future__ import annotations

import errno
import os
import time

from bastion import jsonio
from bastion._record import replace
from bastion._sys.proc import is_alive
from bastion.identity import IDENTITY_FILE, ContainerIdentity
from bastion.runtime import store
from bastion.runtime.errors import InvalidState, RuntimeFailure
from bastion.runtime.lean import (
    recorded_mounts,
    recorded_status,
    release_init,
    remove_cgroup_dirs,
)
from bastion.runtime.status import Status, can_delete, can_kill, can_start

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import Spec
    from bastion.runtime.cgroups.base import CgroupManager
    from bastion.runtime.init.shared_memory import SharedInit
    from bastion.runtime.state import ContainerState, OciState

_SIGKILL = 9
OCI_VERSION = "1.1.0"


class Container:
    __slots__ = ("_cgroup", "_spec", "saved", "sd", "shared_init")

    def __init__(
        self, sd: store.StateDir, saved: ContainerState, *, shared_init: SharedInit | None = None
    ) -> None:
        self.sd = sd
        #: state.json as last read or written here.
        self.saved = saved
        #: `create` made the init in this process's memory (init/shared_memory.py): our command
        #: line and dumpability are the init's until it has exec'd (`start`) or died (`delete`).
        self.shared_init = shared_init
        self._cgroup: CgroupManager | None = None
        self._spec: Spec | None = None

    @classmethod
    def load(cls, root: str, container_id: str) -> Container:
        sd = store.open_existing(root, container_id)
        return cls(sd, sd.read())

    @property
    def id(self) -> str:
        return self.sd.id

    @property
    def pid(self) -> int:
        return self.saved.pid

    @property
    def bundle(self) -> str:
        return self.saved.bundle

    @property
    def cgroup(self) -> CgroupManager:
        if self._cgroup is None:
            # Imported here: start and delete of a plain container need no manager (lean paths).
            from bastion.runtime.cgroups.detect import open_manager

            self._cgroup = open_manager(self.saved.cgroup_path)
        return self._cgroup

    def identity(self) -> ContainerIdentity:
        """The record `create` published for the sensor before the container's first exec."""
        with open(self.sd.file(IDENTITY_FILE), "rb") as f:
            return ContainerIdentity.from_dict(jsonio.loads(f.read()))

    def init_alive(self) -> bool:
        return is_alive(self.pid, self.saved.pid_start)

    @property
    def status(self) -> str:
        # What create recorded answers, as for the lean start and delete (lean.py); the
        # manager where it cannot (no freezer file recorded, or FREEZING) or is loaded already.
        status = recorded_status(self.saved, self.sd.fifo, freezer_file=self._cgroup is None)
        if status is not None:
            return status
        if self.cgroup.state() == "frozen":
            return Status.PAUSED
        return Status.CREATED if os.path.exists(self.sd.fifo) else Status.RUNNING

    def oom_killed(self) -> bool:
        if self.saved.cgroup_dirs is not None:
            return _recorded_oom_kills(self.saved.cgroup_dirs) > 0
        try:
            return self.cgroup.exists() and self.cgroup.oom_kills() > 0
        except OSError:
            return False

    def state(self) -> OciState:
        """The OCI state document, plus runc's extra keys (rootfs, created, owner)."""
        status = self.status
        doc = oci_state(self.saved, status)
        doc["rootfs"] = self.saved.rootfs
        doc["created"] = self.saved.created
        doc["owner"] = self.saved.owner
        if status == Status.STOPPED and self.oom_killed():
            doc["oomKilled"] = True  # bastion's addition: why it stopped
        return doc

    def start(self) -> list[str]:
        """Start the user process; returns the poststart hooks' warnings (they never fail it)."""
        fd = self.sd.lock()
        try:
            status = self.status
            if not can_start(status):
                raise InvalidState(self.id, status, "start", hint="only a created container starts")
            try:
                fifo = os.open(self.sd.fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # nobody reads it: the init died
                    raise InvalidState(self.id, Status.STOPPED, "start") from None
                raise
            release_init(fifo, self.sd.fifo)  # state.json is not rewritten: lean.py says why
            # This object's view:
            self.saved = replace(self.saved, status=Status.RUNNING)
        finally:
            self.sd.unlock(fd)
        self._release_shared()
        if not self.saved.has_poststart:
            return []
        from bastion.runtime import hooks

        return hooks.run_warning(
            self.spec().hooks, "poststart", oci_state(self.saved, Status.RUNNING)
        )

    def _release_shared(self) -> None:
        """Our command line and dumpability back, once an init made in our memory has left it."""
        if self.shared_init is not None:
            from bastion.runtime.init.shared_memory import release

            if release(self.shared_init):
                self.shared_init = None

    def spec(self) -> Spec:
        """The config as `create` saw it (the private copy, not the bundle's file)."""
        if self._spec is None:  # decoded once: exec asks twice (the CLI, then tenant.py)
            from bastion.oci.decode import decode_spec

            with open(self.sd.file(store.CONFIG_FILE), "rb") as f:
                self._spec = decode_spec(f.read(), source=self.sd.file(store.CONFIG_FILE))
        return self._spec

    def kill(self, sig: int, *, all_processes: bool = False) -> None:
        fd = self.sd.lock()
        try:
            status = self.status
            if all_processes and status == Status.STOPPED:
                # runc signals whatever is still in the cgroup once the init has gone: in a pod
                # whose containers share a pid namespace, a container's children outlive its
                # init, and containerd's shim sends `kill --all ID 9` after every exit to end
                # them (a refusal leaves them running until delete, and the shim logs "failed
                # to kill init's children"). A cgroup already removed has nobody left.
                cgroup = self.cgroup
                if cgroup.exists():
                    cgroup.kill(sig)
                return
            if not can_kill(status):
                raise InvalidState(self.id, status, "kill")
            if all_processes:
                self.cgroup.kill(sig)
            else:
                from bastion._sys.signals import pidfd_send_signal  # ctypes: only when signalling

                pidfd_send_signal(self.pid, self.saved.pid_start, sig)
                if sig == _SIGKILL and status == Status.PAUSED:
                    # A task frozen by the v1 freezer acts on SIGKILL only once thawed (runc).
                    self.cgroup.thaw()
        finally:
            self.sd.unlock(fd)

    def delete(self, *, force: bool = False) -> list[str]:
        """Delete the container; returns the poststop hooks' warnings (they never fail it)."""
        fd = self.sd.lock()
        try:
            status = self.status
            if not can_delete(status, force):
                raise InvalidState(self.id, status, "delete", hint="stop it first or use --force")
            spec = self.spec() if self.saved.has_poststop else None
            self._destroy(status)
        finally:
            self.sd.unlock(fd)
        self._release_shared()  # the init has exec'd or been killed and reaped by now
        if spec is None:
            return []
        from bastion.runtime import hooks

        return hooks.run_warning(spec.hooks, "poststop", oci_state(self.saved, Status.STOPPED))

    def _destroy(self, status: str) -> None:
        # A live `create` (only with --force) dies first, so it cannot make more behind us.
        if status == Status.CREATING:
            _kill_quietly(self.saved.creator_pid, self.saved.creator_start)
        if not (status == Status.STOPPED and self._remove_empty_cgroup()):
            if self.pid:
                _kill_quietly(self.pid, self.saved.pid_start)
            cgroup = self.cgroup
            if cgroup.exists():
                if status == Status.PAUSED:
                    cgroup.thaw()
                cgroup.kill(_SIGKILL)
                _wait_gone(self)
                if not self.saved.cgroup_preexisting:
                    cgroup.destroy()
        if not self.saved.cgroup_preexisting and os.path.exists(
            os.path.join(self.sd.root, store.CGROUP_PARENTS_FILE)
        ):
            from bastion.runtime.cgroup_parents import remove_empty

            remove_empty(self.sd.root, self.saved.cgroup_path, self._recorded_mounts())
        if self.saved.host_mounts:
            from bastion.runtime.host_mounts import unmount_under

            unmount_under(self.saved.rootfs)
        for stale in store.stale_reservations(self.sd.root, self.id):
            store.remove_tree(stale)
        self.sd.remove()

    def _recorded_mounts(self) -> list[str] | None:
        return recorded_mounts(self.saved.cgroup_dirs, self.saved.cgroup_path)

    def _remove_empty_cgroup(self) -> bool:
        """The delete of a stopped container as the lean path does it: rmdir the cgroup
        directories create recorded, with no manager and no signal (ctypes). False, for the
        full path (kill, wait, remove with retries), when something is still there: a process,
        a child cgroup, a cgroup this create did not make, a state.json without the record, a
        create that never finished."""
        saved = self.saved
        if (
            saved.cgroup_dirs is None
            or saved.cgroup_preexisting is not False
            or saved.status == Status.CREATING
            or self.init_alive()
        ):
            return False
        return remove_cgroup_dirs(saved.cgroup_dirs)

    def wait(self) -> int:
        """Wait for the init (our child: `create` made us its subreaper); shell-style status."""
        while True:
            try:
                _, raw = os.waitpid(self.pid, 0)
                break
            except InterruptedError:
                continue
            except ChildProcessError:
                raise RuntimeFailure(f"container {self.id!r}: its init is not our child") from None
        if os.WIFSIGNALED(raw):
            return 128 + os.WTERMSIG(raw)
        return os.WEXITSTATUS(raw)


def oci_state(saved: ContainerState, status: str) -> OciState:
    """The OCI state document (runtime-spec runtime.md "State") for a saved state and a status."""
    alive = status in (Status.CREATING, Status.CREATED, Status.RUNNING, Status.PAUSED)
    state: OciState = {
        "ociVersion": OCI_VERSION,
        "id": saved.id,
        "status": status,
        "pid": saved.pid if alive else 0,
        "bundle": saved.bundle,
    }
    if saved.annotations:
        state["annotations"] = saved.annotations
    return state


def _kill_quietly(pid: int, start: int | None) -> None:
    from bastion._sys.signals import pidfd_send_signal  # ctypes: only when signalling

    try:
        pidfd_send_signal(pid, start, _SIGKILL)
    except ProcessLookupError:
        pass


def _wait_gone(container: Container, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    seen = {container.pid} if container.pid else set()
    while True:
        left = container.cgroup.pids()
        seen.update(left)
        _reap(seen)
        if not left and not container.init_alive():
            return
        if time.monotonic() > deadline:
            raise RuntimeFailure(f"processes of {container.id!r} survived SIGKILL for {timeout} s")
        time.sleep(0.005)


def _reap(pids: set[int]) -> None:
    """Reap those of the container's processes that are our children (as subreaper we inherit
    them). Only these pids: a library caller's other children are not ours to reap."""
    for pid in list(pids):
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                pids.discard(pid)
        except ChildProcessError:
            pids.discard(pid)


def _recorded_oom_kills(cgroup_dirs: list[str]) -> int:
    """The OOM kill count from the directories create recorded, with no cgroup manager (the
    engine asks this of every container that ends: the manager parses the mount table and
    loads a dozen modules). The memory controller's directory is the one with v1's
    memory.oom_control, or cgroup2's memory.events (a unified host); 0 when the cgroup or its
    memory controller is gone. Both files read "oom_kill N" (Linux 4.13+)."""
    for directory in cgroup_dirs:
        for name in ("memory.oom_control", "memory.events"):
            try:
                with open(os.path.join(directory, name), "rb") as f:
                    text = f.read()
            except OSError:
                continue
            for line in text.splitlines():
                key, _, value = line.partition(b" ")
                if key == b"oom_kill":
                    return int(value)
            return 0
    return 0


def delete_unreadable(root: str, container_id: str) -> None:
    """`delete --force` of a container whose state.json cannot be decoded (`CorruptState`): its
    state directory goes. What the lost record named (a cgroup, an init) cannot be trusted, so
    nothing else is touched."""
    sd = store.open_existing(root, container_id)
    fd = sd.lock()
    try:
        for stale in store.stale_reservations(root, container_id):
            store.remove_tree(stale)
        sd.remove()
    finally:
        sd.unlock(fd)


def list_containers(root: str) -> list[Container]:
    found = []
    for container_id in store.list_ids(root):
        try:
            found.append(Container.load(root, container_id))
        except Exception:
            continue
    return found
