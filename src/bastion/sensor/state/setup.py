"""The runtime's set-up of a bastion container, told apart from the container's own activity.

Everything a runtime does in a container's cgroup before the container's process starts (joining
namespaces by path, unshare, the rootfs mounts, pivot_root, the createContainer and
startContainer hooks and their processes) is the runtime's work, not the container's: a rule
about containers must not see it, or every bundle with a hook or a bind mount raises an alert by
itself. The container's own activity starts at the exec of the user's process.

The line is drawn by identity and phase, never by process name, from the container's identity
record (its init's host pid) and the events:

- a thread that arrives in a bastion container's cgroup from outside (the runtime's child moved
  there by `create`, a `bastion-runc exec` process) is set-up, `joined`; its own execve makes it
  the container's (the user's process, or an exec'd command);
- a thread cloned by a set-up thread is set-up too; cloned by the container's init (a hook's
  process: the init runs createContainer and startContainer hooks), it stays so through its
  execve; cloned by another set-up thread (the runtime's child forking the init, a
  `bastion-runc exec` forking its command after joining the pid namespace), its execve makes
  it the container's. The init's own execve is the start of the user's process;
- threads cloned by the container's own processes are the container's; threads already running
  when the sensor starts (seeded from /proc or a capture) are the container's;
- the container's init met for the first time from /proc (at seeding, or in the middle of a run
  when the sensor's filter let the container's cgroup through only after `create`) is in its
  set-up when the kernel says it has not exec'd since its fork (PF_FORKNOEXEC in
  /proc/PID/stat): its execve will start the user's process.

A set-up thread is in no container for the rules (`container_id` is "", so ``container.id`` reads
``host``, as the runtime is host software); `setup_of` keeps which container it is preparing.
"""

from __future__ import annotations

from bastion.sensor.state import procfs
from bastion.sensor.state.containers import ContainerTable
from bastion.sensor.state.model import Thread


def after_placement(containers: ContainerTable, thread: Thread, before: str) -> None:
    """`thread` was just placed by its cgroup (it arrived there, `before` being the container
    it was in or preparing, "" for none): start, keep or end its set-up."""
    cid = thread.container_id
    if not cid:
        thread.setup_of, thread.joined = "", False
        return
    if cid == before:
        if thread.setup_of == cid:
            thread.container_id = ""  # still preparing it
        return
    container = containers.by_id(cid)
    if container is None or container.kind != "bastion" or not container.init_pid:
        return
    if thread.exec_seen and thread.pid == container.init_pid:
        # the init identified only after its exec (the identity record came late): it is the
        # user's process already, and so are the processes it forks
        return
    thread.setup_of, thread.joined, thread.container_id = cid, True, ""


def after_execve(containers: ContainerTable, thread: Thread) -> None:
    """A successful execve: the container's init starting the user's process, or a thread that
    joined from outside starting its command, ends the set-up; a hook's exec does not."""
    cid = thread.setup_of
    if not cid:
        return
    container = containers.by_id(cid)
    if thread.joined or (container is not None and thread.pid == container.init_pid):
        thread.container_id, thread.setup_of, thread.joined = cid, "", False


def met_in_proc(containers: ContainerTable, thread: Thread, proc_root: str) -> None:
    """`thread` was read from /proc: a container's init that has not exec'd since its fork is
    still in its set-up (see the module's docstring)."""
    cid = thread.container_id
    if not cid or thread.pid != thread.tid:
        return
    container = containers.by_id(cid)
    if container is None or container.kind != "bastion" or container.init_pid != thread.pid:
        return
    if procfs.forked_without_exec(proc_root, thread.pid):
        thread.setup_of, thread.joined, thread.container_id = cid, False, ""


def after_clone(containers: ContainerTable, creator: Thread, child: Thread) -> None:
    """`creator` (in a set-up) cloned `child`: a hook's process when the creator is the
    container's init, else a process whose execve will be the container's (see above)."""
    container = containers.by_id(creator.setup_of)
    is_init = container is not None and creator.pid == container.init_pid
    child.setup_of, child.container_id, child.joined = creator.setup_of, "", not is_init
