"""`exec`: a new process inside a running container (youki calls it a *tenant*).

Like create's children, but joining instead of creating: the intermediate is born in the
container's cgroup (cgroups/attach.py), opens and joins every namespace of the container's init
(/proc/<pid>/ns/*, checked to still belong to the same init), and forks the tenant, which becomes
the configured user with its own capabilities, rlimits and no_new_privs, and execs. The parent
learns that the exec happened when the close-on-exec channel reaches EOF, or gets the error if
it failed.
"""

from __future__ import annotations

import os

from bastion._record import record, replace
from bastion._sys import prctl as _prctl
from bastion._sys.proc import is_alive, kill_and_reap
from bastion.oci.decode import SpecError
from bastion.oci.validate import validate_spec
from bastion.runtime import console, namespaces, store
from bastion.runtime.cgroups import attach
from bastion.runtime.container import oci_state
from bastion.runtime.errors import InvalidState
from bastion.runtime.host_support import check_host_support
from bastion.runtime.init import CHILD_TITLE, compile_seccomp, fork_and_report
from bastion.runtime.init.channel import pair
from bastion.runtime.init.messages import Message, Pid
from bastion.runtime.seccomp_agent import forward_notify_fd, has_notify
from bastion.runtime.status import can_exec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn

    from bastion.oci.spec import Process, Spec
    from bastion.runtime.cgroups.base import Placement
    from bastion.runtime.container import Container
    from bastion.runtime.init.channel import Channel
    from bastion.runtime.seccomp import Filter

_SIGKILL = 9


@record
class ExecOptions:
    """runc's `exec` flags that are not part of the process itself."""

    process: Process
    detach: bool = False
    pid_file: str | None = None
    console_socket: str | None = None
    console_receiver: Callable[[int, str], None] | None = None
    preserve_fds: int = 0


def exec_process(container: Container, opts: ExecOptions) -> int:
    """Start `opts.process` in `container`; returns its host pid once it has exec'd."""
    status = container.status
    if not can_exec(status):
        raise InvalidState(
            container.id, status, "exec", hint="exec needs a created or running container"
        )
    spec = container.spec()
    process = opts.process
    validate_spec(replace(spec, process=process), require_process=True)
    check_host_support(replace(spec, process=process))
    if process.terminal and not (opts.console_socket or opts.console_receiver):
        raise SpecError(
            "a terminal was asked for but no --console-socket was given to receive the pty",
            where="process.terminal",
            reference="console-socket-required",
        )
    joined = _open_namespaces(container, spec)
    parent, child = pair()
    _prctl.set_child_subreaper()  # the tenant is re-parented to us when the intermediate exits
    pid, join = attach.fork(_placement(container))  # born in the cgroup: no RCU grace period
    if pid == 0:
        parent.close()
        _run_intermediate(spec, process, joined, opts.preserve_fds, child, join, container.sd.root)
    child.close()
    for _, fd in joined:
        os.close(fd)
    tenant = 0
    try:
        parent.send(Message.GO)
        tenant = parent.recv_record(Message.TENANT, Pid).pid
        os.waitpid(pid, 0)
        if process.terminal:
            console.deliver(parent, opts.console_socket, opts.console_receiver)
        if has_notify(spec):
            forward_notify_fd(parent, spec, oci_state(container.saved, container.status))
        parent.recv(Message.EXEC)
        parent.recv_eof()  # the close-on-exec channel is gone: the exec happened
    except BaseException:
        kill_and_reap(pid)
        if tenant:
            kill_and_reap(tenant)
        raise
    finally:
        parent.close()
    if opts.pid_file:
        store.write_atomic(os.path.abspath(opts.pid_file), str(tenant).encode(), 0o644)
    return tenant


def _placement(container: Container) -> Placement:
    """The cgroup as create recorded it (no manager, no mount table), else the manager."""
    saved = container.saved
    if saved.cgroup_dirs is not None and saved.cgroup2_dir is not None:
        return attach.Recorded(saved.cgroup_dirs, saved.cgroup2_dir or None)
    return container.cgroup


def _open_namespaces(container: Container, spec: Spec) -> list[tuple[str, int]]:
    """Open the init's namespaces, then check the init is still the one we recorded (a pid alone
    could have been reused by the time the files were opened)."""
    init = container.pid
    types = [n.type for n in spec.linux.namespaces] if spec.linux else []
    plan = namespaces.NamespacePlan(
        new=0, join=tuple((t, namespaces.proc_path(init, t)) for t in types)
    )
    opened = namespaces.open_joined(plan)
    if not is_alive(init, container.saved.pid_start):
        for _, fd in opened:
            os.close(fd)
        raise InvalidState(container.id, "stopped", "exec")
    return opened


def _run_intermediate(
    spec: Spec,
    process: Process,
    joined: list[tuple[str, int]],
    preserve_fds: int,
    chan: Channel,
    join_cgroup: Callable[[], None],
    state_root: str,
) -> NoReturn:
    try:
        join_cgroup()  # before the tenant forks: it inherits the cgroups
        _prctl.set_pdeathsig(_SIGKILL)
        # Visible in the container's pid namespace from the fork on: never let a container
        # process reach this host interpreter through /proc/<pid>/exe (CVE-2019-5736).
        _prctl.set_dumpable(False)
        _prctl.set_cmdline(CHILD_TITLE)  # before the container can see us (the tenant inherits it)
        # Everything the tenant uses is imported now: after setns into the container's mount
        # namespace the host's Python library is out of reach.
        from bastion.runtime.init import process as proc  # noqa: F401

        # The container's filter applies to exec too: through the runtime root's program cache,
        # which create filled (libseccomp's generation of Docker's profile is ~15 ms a call).
        seccomp_filter = compile_seccomp(spec, state_root)
        chan.recv(Message.GO)
        namespaces.join(joined)
        if fork_and_report(chan, Message.TENANT) == 0:
            _run_tenant(process, preserve_fds, chan, seccomp_filter)
    except BaseException as exc:
        chan.send_error(exc)
        os._exit(1)
    os._exit(0)


def _run_tenant(
    process: Process, preserve_fds: int, chan: Channel, seccomp_filter: Filter | None
) -> NoReturn:
    from bastion.runtime.init import process as p  # already loaded: no file access

    try:
        if process.terminal:
            os.setsid()
            p.attach_terminal(process, chan)
        env = p.environment(process)
        p.set_rlimits(process)
        executable = p.become(process, env, seccomp_filter, chan)
        p.close_host_fds(preserve_fds)
        chan.send(Message.EXEC)
        p.default_signals()
        os.execve(executable, list(process.args), env)
    except BaseException as exc:
        chan.send_error(exc)
    os._exit(127)
