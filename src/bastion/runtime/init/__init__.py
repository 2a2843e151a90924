"""Code that runs in the forked children of `create`, never in the parent.

Two children, as in runc's nsexec stages and crun's libcrun_container_run_internal:
- the *intermediate* joins existing namespaces, creates the user namespace (the parent writes its
  id maps), unshares the rest and forks the init, whose pid it reports before exiting. The extra
  fork exists because a new pid (and time) namespace applies only to the children of the caller;
- the *init* is pid 1 of the container: it builds the rootfs, then the process's identity, then
  waits on the exec fifo until `start`, and execs the user program.
Where there is no user or time namespace and none to join, clone3 makes the init directly in its
new namespaces (`run_direct_init`) and there is no intermediate (one Python fork less).

Read `run_init` top to bottom: it is the list of steps (crun's container_init_setup). Every module
the children use must be imported before pivot_root (or setns into the container's mount
namespace): after that, the host's Python library is out of reach.
"""

from __future__ import annotations

import os

from bastion._record import record
from bastion._sys import ns as _ns
from bastion._sys import prctl as _prctl
from bastion._sys.host import setdomainname, sethostname
from bastion.oci.vocabulary import CLONE_NEWCGROUP, CLONE_NEWTIME, CLONE_NEWUSER
from bastion.runtime import namespaces
from bastion.runtime.errors import RuntimeFailure
from bastion.runtime.init.messages import HookState, Message, Pid

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn

    from bastion.oci.spec import Spec
    from bastion.runtime.init.channel import Channel
    from bastion.runtime.namespaces import NamespacePlan
    from bastion.runtime.seccomp import Filter
    from bastion.runtime.state import OciState

_SIGKILL = 9
#: What the children's /proc/<pid>/cmdline shows until they exec (runc's shows "runc init"):
#: never the host's command line, whose --root and bundle paths the container must not see.
CHILD_TITLE = "bastion-runc init"


@record
class InitConfig:
    """What the children need; it reaches them by fork, never serialised."""

    spec: Spec
    rootfs: str
    cgroup_path: str
    fifo_fds: tuple[int, int]  # (read, write) ends of the exec fifo, opened by the parent
    no_pivot: bool
    preserve_fds: int
    namespaces: NamespacePlan
    #: The runtime root: where the seccomp program cache lives ("" for none).
    state_root: str = ""
    #: Whether the init stops twice for the parent (PRE_PIVOT/HOOKS_DONE, MOUNTS_DONE/CONTINUE):
    #: only where hooks run between its steps (or a test crashes `create` there). Without, the
    #: two round trips go: each waits for the other process to be scheduled.
    handshake: bool = True


def run_intermediate(cfg: InitConfig, chan: Channel, join_cgroup: Callable[[], None]) -> NoReturn:
    try:
        join_cgroup()  # before the init is forked: it inherits the cgroups (cgroups/attach.py)
        # If `create` dies before the init exists, so do we (and the init then sees EOF).
        _prctl.set_pdeathsig(_SIGKILL)
        _prctl.set_dumpable(False)
        _prctl.set_cmdline(CHILD_TITLE)  # the init inherits it through fork
        # The init's modules load here, and the seccomp filter compiles, before the init forks
        # (after pivot_root the host's library is out of reach).
        from bastion.runtime.init import process, rootfs  # noqa: F401

        seccomp_filter = compile_seccomp(cfg.spec, cfg.state_root)
        chan.recv(Message.GO)
        namespaces.join(namespaces.open_joined(cfg.namespaces))
        if cfg.namespaces.creates("user"):
            _ns.unshare(CLONE_NEWUSER)
            chan.send(Message.IDMAP)
            chan.recv(Message.IDMAP_DONE)
            _become_root_if_mapped()
        rest = cfg.namespaces.new & ~CLONE_NEWUSER
        if rest:
            _ns.unshare(rest)
        if rest & CLONE_NEWTIME:
            _write_time_offsets(cfg.spec)
        if fork_and_report(chan, Message.INIT) == 0:
            run_init(cfg, chan, seccomp_filter)
    except BaseException as exc:
        chan.send_error(exc)
        os._exit(1)
    os._exit(0)


def run_direct_init(cfg: InitConfig, chan: Channel, join_cgroup: Callable[[], None]) -> NoReturn:
    """The init when clone3 made it straight in its new namespaces (create._direct_flags): no
    user, time or joined namespace, so what the intermediate does is only its own preparation.

    No parent-death signal, unlike the intermediate: the init outlives `create`. If `create`
    dies first, the init sees EOF on the channel and exits. The cgroup namespace is unshared
    here, after the v1 hierarchies are joined, so that it is rooted at the container's cgroups
    in each of them, as the intermediate's unshare roots it.
    """
    try:
        join_cgroup()
        _prctl.set_dumpable(False)
        _prctl.set_cmdline(CHILD_TITLE)
        from bastion.runtime.init import process, rootfs  # noqa: F401

        seccomp_filter = compile_seccomp(cfg.spec, cfg.state_root)
        chan.recv(Message.GO)
        if cfg.namespaces.creates("cgroup"):
            _ns.unshare(CLONE_NEWCGROUP)
    except BaseException as exc:
        chan.send_error(exc)
        os._exit(1)
    run_init(cfg, chan, seccomp_filter)


def run_init(cfg: InitConfig, chan: Channel, seccomp_filter: Filter | None) -> NoReturn:
    from bastion.runtime import hooks
    from bastion.runtime.init import process as proc
    from bastion.runtime.init import rootfs

    spec = cfg.spec
    process = spec.process
    assert process is not None  # validate_spec(require_process=True) ran before the fork
    # Nothing may be imported after pivot_root: the host's library is gone from our view then.
    hooks.preload(spec.hooks)
    try:
        # A container process must never reach this (host) interpreter through /proc/1/exe
        # (CVE-2019-5736): non-dumpable until exec, which installs the container's binary.
        _prctl.set_dumpable(False)
        os.setsid()
        start_fd = cfg.fifo_fds[0]
        os.set_blocking(start_fd, True)

        def before_pivot() -> None:
            # The parent runs prestart and createRuntime now; then createContainer runs here,
            # in the container's namespaces, before pivot_root (runtime-spec hook order).
            if not cfg.handshake:
                return
            chan.send(Message.PRE_PIVOT)
            state = chan.recv_record(Message.HOOKS_DONE, HookState).state
            hooks.run(spec.hooks, "createContainer", state)

        # A joined mount namespace gets the same set-up as a new one (runc's prepareRootfs).
        rootfs.setup(
            spec,
            cfg.rootfs,
            cfg.cgroup_path,
            cfg.namespaces.creates("cgroup"),
            cfg.no_pivot,
            before_pivot,
            own_mount_ns=cfg.namespaces.has("mount"),
        )
        _set_names(spec)
        _write_sysctls(spec)
        rootfs.finalize(spec)
        if process.terminal:
            proc.attach_terminal(process, chan)
        state: OciState = {}  # the OCI state for startContainer hooks (there is a handshake then)
        if cfg.handshake:
            chan.send(Message.MOUNTS_DONE)
            state = chan.recv_record(Message.CONTINUE, HookState).state
        env = proc.environment(process)
        proc.set_rlimits(process)
        executable = proc.become(process, env, seccomp_filter, chan)
        proc.close_host_fds(cfg.preserve_fds)
        chan.send(Message.READY)
        chan.close()
    except BaseException as exc:
        chan.send_error(exc)
        os._exit(1)
    _wait_for_start(start_fd)
    if hooks.of(spec.hooks, "startContainer"):
        try:
            hooks.run(spec.hooks, "startContainer", {**state, "status": "created"})
        except Exception as exc:  # reported on the container's stderr
            os.write(2, f"bastion-runc init: {getattr(exc, 'render', exc.__str__)()}\n".encode())
            os._exit(1)
    try:
        proc.default_signals()
        os.execve(executable, list(process.args), env)
    except OSError as exc:
        os.write(2, f"bastion-runc init: exec {executable}: {exc.strerror}\n".encode())
    os._exit(127)


def compile_seccomp(spec: Spec, cache_root: str = "") -> Filter | None:
    """The container's seccomp filter, compiled (not loaded): libseccomp is loaded now, while the
    host's libraries are still reachable. With `cache_root` (the runtime root), through its
    cache of generated programs (`seccomp.compile_cached`)."""
    if spec.linux is None or spec.linux.seccomp is None:
        return None
    if cache_root:
        from bastion.runtime.seccomp import compile_cached

        return compile_cached(spec.linux.seccomp, cache_root)
    from bastion.runtime.seccomp import compile_filter

    return compile_filter(spec.linux.seccomp)


def fork_and_report(chan: Channel, kind: str) -> int:
    """Fork; the parent sends `kind` (INIT or TENANT) with the child's pid on `chan`; returns 0
    in the child.

    The child and this process share `chan`: the child waits until the pid message is sent
    (EOF on a pipe) before it may send anything, so the parent reads them in that order even on
    a loaded machine.
    """
    reported, report = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(report)
        os.read(reported, 1)  # EOF: the pid message is out
        os.close(reported)
        return 0
    os.close(reported)
    try:
        chan.send(kind, Pid(pid=pid))
    finally:
        os.close(report)
    return pid


def _wait_for_start(fd: int) -> None:
    while True:
        try:
            if os.read(fd, 1):
                return
        except InterruptedError:
            continue


def _become_root_if_mapped() -> None:
    with open("/proc/self/uid_map", "rb") as f:
        mapped_zero = any(line.split()[:1] == [b"0"] for line in f.read().splitlines())
    if mapped_zero:
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)


def _write_time_offsets(spec: Spec) -> None:
    offsets = spec.linux.time_offsets if spec.linux else None
    if not offsets:
        return
    lines = [f"{clock} {o.secs or 0} {o.nanosecs or 0}" for clock, o in offsets.items()]
    with open("/proc/self/timens_offsets", "w") as f:
        f.write("\n".join(lines) + "\n")


def _set_names(spec: Spec) -> None:
    if spec.hostname:
        sethostname(spec.hostname)
    if spec.domainname:
        setdomainname(spec.domainname)


def _write_sysctls(spec: Spec) -> None:
    for key, value in (spec.linux.sysctl or {}).items() if spec.linux else ():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as exc:
            raise RuntimeFailure(
                f"cannot set sysctl {key}={value!r}: {exc.strerror}", where=f"linux.sysctl.{key}"
            ) from None
