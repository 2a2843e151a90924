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
- a thread cloned by a set-up thread is set-up too (a hook's process, forked by the init), and
  stays so through its execve, unless it is the container's init itself, whose execve is the
  start of the user's process;
- threads cloned by the container's own processes are the container's; threads already running
  when the sensor starts (seeded from /proc or a capture) are the container's.

A set-up thread is in no container for the rules (`container_id` is "", so ``container.id`` reads
``host``, as the runtime is host software); `setup_of` keeps which container it is preparing.
"""

from __future__ import annotations

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
