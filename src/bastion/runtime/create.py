"""`create`: the ordered steps that make a container, each with its undo.

    decode + validate config.json (no side effects yet)
    reserve the state directory          -> crash point "state"
    create the cgroup and apply limits   -> crash points "cgroup-v1" (inside), "cgroup"
    clone the init into the cgroup and its namespaces (or fork the intermediate into the
    cgroup, write id maps, get the init's pid)
                                         -> crash point "fork"
    the init builds the rootfs           -> crash point "mounts"
    the init sets the process up and waits on the exec fifo; state becomes "created"

A `create` killed at any point leaves a state directory whose status is "creating" and whose
creator is dead: `list` shows it stopped and `delete --force` removes every part of it
(processes through the cgroup, the cgroup in every hierarchy, the parent cgroups it made,
the directory). The crash points exist for the tests:
BASTION_TEST_CRASH_AT=<point> makes create SIGKILL itself there (crash.py lists them).
"""

from __future__ import annotations

import os
import time

from bastion import jsonio
from bastion._record import record, replace
from bastion._sys import prctl as _prctl
from bastion._sys.proc import kill_and_reap, start_time
from bastion.identity import (
    IDENTITY_FILE,
    IMAGE_ANNOTATIONS,
    IMAGE_DIGEST_ANNOTATIONS,
    NAME_ANNOTATIONS,
    ContainerIdentity,
    first_annotation,
    labels_from_annotations,
)
from bastion.oci.decode import SpecError, decode_spec, read_config
from bastion.oci.validate import validate_spec
from bastion.oci.vocabulary import CLONE_NEWCGROUP, CLONE_NEWTIME, CLONE_NEWUSER
from bastion.runtime import hooks, namespaces, store
from bastion.runtime.cgroups import attach
from bastion.runtime.cgroups.detect import open_manager, resolve_cgroups_path
from bastion.runtime.container import Container, oci_state
from bastion.runtime.crash import armed as _crash_point_set
from bastion.runtime.crash import point as _crash_point
from bastion.runtime.device_rules import with_default_device_rules
from bastion.runtime.errors import RuntimeFailure
from bastion.runtime.host_support import check_host_support
from bastion.runtime.init import CHILD_TITLE, InitConfig, run_direct_init, run_intermediate
from bastion.runtime.init.channel import pair
from bastion.runtime.init.messages import HookState, Message, Pid
from bastion.runtime.lean import PLAIN_FILE, plain_record
from bastion.runtime.rollback import Rollback
from bastion.runtime.state import ContainerState
from bastion.runtime.status import Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from bastion.oci.spec import Spec
    from bastion.runtime.cgroups.base import CgroupManager
    from bastion.runtime.init.channel import Channel
    from bastion.runtime.init.shared_memory import SharedInit
    from bastion.runtime.namespaces import NamespacePlan

# BASTION_TEST_INIT_SPAWN=intermediate: every init through the intermediate (_direct_flags).
SPAWN_ENV = "BASTION_TEST_INIT_SPAWN"
FORCE_INTERMEDIATE = "intermediate"
#: BASTION_TEST_INIT_SPAWN=private: the compiled init in memory of its own even where the caller
#: allows it ours (the tests compare both ways)
FORCE_PRIVATE = "private"


@record
class CreateOptions:
    """runc's `create` flags, as a library call (youki's builder, without the builder)."""

    id: str
    bundle: str
    root: str = store.DEFAULT_ROOT
    pid_file: str | None = None
    console_socket: str | None = None
    no_pivot: bool = False
    preserve_fds: int = 0
    # Receives (pty master, pty name) when the process has a terminal and no console socket is
    # given: how a foreground `run` gets the master to proxy it.
    console_receiver: Callable[[int, str], None] | None = None
    #: The compiled init may run in this process's memory until it execs (init/shared_memory.py):
    #: this process's command line shows the init's title and its dumpability is the init's
    #: until then (the returned Container's `start` or `delete` puts them back).
    shared_memory_init: bool = False


def load_bundle(bundle: str) -> tuple[bytes, Spec, str]:
    """(raw config.json, decoded and validated spec, absolute rootfs path)."""
    path, raw = read_config(bundle)
    spec = decode_spec(raw, source=path)
    validate_spec(spec, require_process=True)
    assert spec.root is not None  # validate_spec requires root on Linux
    rootfs = os.path.realpath(os.path.join(bundle, spec.root.path))
    if not os.path.isdir(rootfs):
        raise SpecError(
            f"root filesystem {rootfs} is not a directory",
            where="root.path",
            reference="spec-invalid-value",
        )
    return raw, spec, rootfs


def create(opts: CreateOptions) -> Container:
    bundle = os.path.abspath(opts.bundle)
    store.check_id(opts.id)
    raw, spec, rootfs = load_bundle(bundle)
    terminal = spec.process is not None and spec.process.terminal
    if terminal and not (opts.console_socket or opts.console_receiver):
        # runc: "cannot allocate tty if runc will detach without setting console socket".
        raise SpecError(
            "process.terminal is true but no --console-socket was given to receive the pty",
            where="process.terminal",
            hint="pass --console-socket PATH, use `run` in the foreground, or set it to false",
            reference="console-socket-required",
        )
    check_host_support(spec)
    if spec.linux is not None and spec.linux.seccomp is not None:
        from bastion.runtime.seccomp import check_seccomp

        check_seccomp(spec)
    plan = namespaces.plan(spec.linux)
    namespaces.check_paths(spec.linux)
    cgroup_path = resolve_cgroups_path(spec.linux.cgroups_path if spec.linux else None, opts.id)
    # Whether the cgroup was there before us goes into the first state.json: a state.json
    # rewritten is a rename over a file, which ext4 (auto_da_alloc) makes flush the new one's
    # data, ~0.4 ms of wall time each; nothing is made between this check and the reservation.
    cgroup = open_manager(cgroup_path)
    state = ContainerState(
        id=opts.id,
        status=Status.CREATING,
        bundle=bundle,
        rootfs=rootfs,
        creator_pid=os.getpid(),
        creator_start=start_time(os.getpid()),
        cgroup_path=cgroup_path,
        cgroup_preexisting=cgroup.exists(),
        created=_now(),
        owner="",
        annotations=dict(spec.annotations or {}),
        has_poststart=bool(hooks.of(spec.hooks, "poststart")),
        has_poststop=bool(hooks.of(spec.hooks, "poststop")),
        host_mounts=not plan.has("mount"),
    )
    undo = Rollback()
    chan: Channel | None = None
    # The init is our child, or the intermediate's and re-parented to us when that exits: either
    # way, ours (or our caller's subreaper's, e.g. conmon's) to wait for.
    _prctl.set_child_subreaper()
    try:
        sd = store.reserve(opts.root, opts.id, state, raw)
        undo.push("state directory", sd.remove)
        _crash_point("state")
        if not state.cgroup_preexisting and _parent_may_be_missing(cgroup):
            from bastion.runtime import cgroup_parents

            # Before any mkdir: a crash from here on leaves the record of what it made.
            if cgroup_parents.record_missing(opts.root, cgroup_path):
                undo.push(
                    "parent cgroups", lambda: cgroup_parents.remove_empty(opts.root, cgroup_path)
                )
        cgroup.create()
        if not state.cgroup_preexisting:
            undo.push("cgroup", cgroup.destroy)
        # Written with the init's pid below: start and delete read these, not the manager.
        state = replace(
            state,
            freezer_file=cgroup.freezer_file(),
            cgroup_dirs=cgroup.directories(),
            cgroup2_dir=cgroup.v2_directory() or "",
        )
        _crash_point("cgroup")
        cgroup.apply(with_default_device_rules(spec.linux.resources if spec.linux else None))
        if state.host_mounts:
            from bastion.runtime.host_mounts import unmount_under

            undo.push("mounts under the rootfs", lambda: unmount_under(rootfs))
        fifo_fds = _open_exec_fifo(sd.fifo)
        cfg = InitConfig(
            spec=spec,
            rootfs=rootfs,
            cgroup_path=cgroup_path,
            fifo_fds=fifo_fds,
            no_pivot=opts.no_pivot,
            preserve_fds=opts.preserve_fds,
            namespaces=plan,
            state_root=opts.root,  # the seccomp program cache (seccomp.compile_cached)
            handshake=_needs_handshake(spec),
        )
        try:
            chan, init_pid, shared = _spawn(cfg, cgroup, undo, opts.shared_memory_init)
        finally:
            for fd in fifo_fds:  # only the init keeps them
                os.close(fd)
        state = replace(state, pid=init_pid, pid_start=start_time(init_pid))
        sd.write(state)
        if spec.process is not None and spec.process.oom_score_adj is not None:
            _write_oom_score_adj(init_pid, spec.process.oom_score_adj)
        _publish_identity(sd, spec, opts.id, cgroup, init_pid, state.pid_start)
        # "created" for prestart, createRuntime and createContainer: runtime-spec runtime.md
        # "State" has "creating" for lifecycle step 2 only, and these hooks are steps 3-5 (crun
        # does the same; runc's "creating" fails runtime-tools' hooks_stdin)
        hook_state = oci_state(state, Status.CREATED)
        if cfg.handshake:
            chan.recv(Message.PRE_PIVOT)
            hooks.run(spec.hooks, "prestart", hook_state)
            hooks.run(spec.hooks, "createRuntime", hook_state)
            chan.send(Message.HOOKS_DONE, HookState(state=hook_state))
        if terminal:
            from bastion.runtime import console  # only with a terminal: start-up time

            console.deliver(chan, opts.console_socket, opts.console_receiver)
        if cfg.handshake:
            chan.recv(Message.MOUNTS_DONE)
            _crash_point("mounts")
            chan.send(Message.CONTINUE, HookState(state=hook_state))
        if spec.linux is not None and spec.linux.seccomp is not None:
            from bastion.runtime.seccomp_agent import forward_notify_fd, has_notify

            if has_notify(spec):
                # the agent is told of the container still being made, as runc does
                forward_notify_fd(chan, spec, oci_state(state, Status.CREATING))
        chan.recv(Message.READY)
        state = replace(state, status=Status.CREATED)
        sd.write(state)
        # After the last state.json: a create killed before it leaves no record, so the
        # compiled front never acts on a container whose status says "creating".
        record = plain_record(state)
        if record is not None:
            store.write_atomic(sd.file(PLAIN_FILE), record)
        if opts.pid_file:
            store.write_atomic(os.path.abspath(opts.pid_file), f"{init_pid}".encode(), 0o644)
        undo.commit()
    except BaseException as exc:
        undo.unwind(exc)
        raise
    finally:
        if chan is not None:
            chan.close()
    return Container(sd, state, shared_init=shared)


def _needs_handshake(spec: Spec) -> bool:
    """Whether the init must stop for us before pivot_root and once its rootfs is final: to run
    the prestart and createRuntime hooks, to hand it the OCI state its createContainer and
    startContainer hooks get, or for the tests' crash point "mounts" (crash.py)."""
    kinds = ("prestart", "createRuntime", "createContainer", "startContainer")
    return any(hooks.of(spec.hooks, kind) for kind in kinds) or _crash_point_set()


def _spawn(
    cfg: InitConfig, cgroup: CgroupManager, undo: Rollback, shared: bool
) -> tuple[Channel, int, SharedInit | None]:
    """Make the init: straight into its namespaces where clone3 can (no user or time
    namespace, none joined), else through the intermediate. Returns the channel, its pid and,
    where it runs in our memory (`shared` allows it), what `release` needs."""
    flags = _direct_flags(cfg.namespaces)
    if flags is not None:
        spawned = _spawn_compiled(cfg, cgroup, undo, flags, shared)
        if spawned is not None:
            return spawned
        parent, child = pair()
        try:
            # born in the cgroup and in every new namespace but the cgroup one (run_direct_init)
            pid, join = attach.fork(cgroup, flags & ~CLONE_NEWCGROUP)
        except OSError:
            parent.close()
            child.close()
        else:
            if pid == 0:
                parent.close()
                run_direct_init(cfg, child, join)
            child.close()
            return (*_go(parent, pid, undo), None)
    return (*_spawn_through_intermediate(cfg, cgroup, undo), None)


def _go(parent: Channel, pid: int, undo: Rollback) -> tuple[Channel, int]:
    """The init `pid` exists: undone by killing it from now on; tell it to go on."""
    undo.push("init process", lambda: kill_and_reap(pid))
    try:
        _crash_point("fork")
        parent.send(Message.GO)
    except BaseException:
        parent.close()
        raise
    return parent, pid


def _spawn_compiled(
    cfg: InitConfig, cgroup: CgroupManager, undo: Rollback, flags: int, shared: bool
) -> tuple[Channel, int, SharedInit | None] | None:
    """The init as compiled code running a plan (init/plan.py), where the plan and the
    compiled module can have it; None where the Python init must run. In our memory until it
    execs where `shared` allows it and the module offers it (init/shared_memory.py)."""
    from bastion._sys.libc import native
    from bastion.runtime.init import plan as init_plan

    spawn = init_plan.compiled_spawn()
    plan = init_plan.build(cfg, cgroup, flags) if spawn is not None else None
    if spawn is None or plan is None:
        return None
    from bastion.runtime.init import shared_memory

    shared = shared and shared_memory.offered(native) and os.environ.get(SPAWN_ENV) != FORCE_PRIVATE
    parent, child = pair()
    parent.explain = plan.explain
    cgroup_fd = -1
    directory = cgroup.v2_directory()
    saved: tuple[bytes, bool] | None = None
    try:
        if shared:
            try:
                saved = shared_memory.prepare(CHILD_TITLE)
            except OSError:  # our command line cannot be titled: the init gets memory of its own
                shared = False
            else:
                kept = saved  # put back when no init comes of it, or after it is killed (undo)
                undo.push("our command line", lambda: shared_memory.restore(*kept))
        if directory is not None:
            try:
                cgroup_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                cgroup_fd = -1
        try:
            # born in the cgroup and in every new namespace but the cgroup one, as below
            pid, _, handle = spawn(
                plan.blob, flags & ~CLONE_NEWCGROUP, cgroup_fd, child.fileno(), shared
            )
        finally:
            if cgroup_fd >= 0:
                os.close(cgroup_fd)
            child.close()
    except BaseException:
        parent.close()
        raise
    chan, pid = _go(parent, pid, undo)
    if saved is None:
        return chan, pid, None
    return chan, pid, shared_memory.SharedInit(handle=handle, cmdline=saved[0], dumpable=saved[1])


def _direct_flags(plan: NamespacePlan) -> int | None:
    """The namespaces to clone the init into, or None where it needs the intermediate.

    A new user namespace needs its id maps written between unshare and the rest (and the other
    namespaces then belong to it); a new time namespace and a new pid namespace only apply to
    the children of the process that unshares them, so the time offsets need a process in
    between; joining a namespace by path needs setns before the fork. BASTION_TEST_INIT_SPAWN=
    intermediate forces the intermediate (the tests compare both ways).
    """
    if os.environ.get(SPAWN_ENV) == FORCE_INTERMEDIATE:
        return None
    if plan.join or plan.new & (CLONE_NEWUSER | CLONE_NEWTIME):
        return None
    return plan.new


def _spawn_through_intermediate(
    cfg: InitConfig, cgroup: CgroupManager, undo: Rollback
) -> tuple[Channel, int]:
    """Fork the intermediate, place it, map its ids; returns the channel and the init's pid."""
    parent, child = pair()
    # The intermediate is born in the cgroup (cgroups/attach.py: no RCU grace period to wait).
    # The init is its child; when the intermediate exits it is re-parented to us (or to our
    # caller's subreaper, e.g. conmon), so `run` can wait for it.
    pid, join = attach.fork(cgroup)
    if pid == 0:
        parent.close()
        run_intermediate(cfg, child, join)
    child.close()
    undo.push("intermediate process", lambda: kill_and_reap(pid))
    try:
        _crash_point("fork")
        parent.send(Message.GO)
        if cfg.namespaces.creates("user"):
            parent.recv(Message.IDMAP)
            _write_id_maps(pid, cfg.spec)
            parent.send(Message.IDMAP_DONE)
        init_pid = parent.recv_record(Message.INIT, Pid).pid
    except BaseException:
        parent.close()
        raise
    os.waitpid(pid, 0)
    undo.push("init process", lambda: kill_and_reap(init_pid))
    return parent, init_pid


def _parent_may_be_missing(cgroup: CgroupManager) -> bool:
    # The usual case without a module import: a parent that exists in the unified hierarchy
    # exists somewhere, so this create makes no parent cgroup (cgroup_parents.record_missing).
    directory = cgroup.v2_directory()
    return directory is None or not os.path.isdir(os.path.dirname(directory))


def _publish_identity(
    sd: store.StateDir,
    spec: Spec,
    container_id: str,
    cgroup: CgroupManager,
    pid: int,
    start: int | None,
) -> None:
    """Write identity.json before the first exec, so a sensor can name the container's first
    syscall (docs/architecture.md "The plan": the runtime that made it says who it is)."""
    annotations = spec.annotations or {}
    directory = cgroup.v2_directory()
    cgroup_ids = (os.stat(directory).st_ino,) if directory and os.path.isdir(directory) else ()
    caps = spec.process.capabilities if spec.process else None
    identity = ContainerIdentity(
        id=container_id,
        name=first_annotation(annotations, NAME_ANNOTATIONS) or container_id,
        image=first_annotation(annotations, IMAGE_ANNOTATIONS) or "",
        image_digest=first_annotation(annotations, IMAGE_DIGEST_ANNOTATIONS) or "",
        labels=labels_from_annotations(annotations),
        privileged=bool(caps and "CAP_SYS_ADMIN" in caps.bounding),
        cgroup_path=cgroup.path,
        cgroup_ids=cgroup_ids,
        pid=pid,
        start_time=start or 0,
    )
    store.write_atomic(sd.file(IDENTITY_FILE), jsonio.dumps(identity.to_dict()).encode(), 0o644)


def _write_id_maps(pid: int, spec: Spec) -> None:
    linux = spec.linux
    assert linux is not None
    for name, mappings in (("uid_map", linux.uid_mappings), ("gid_map", linux.gid_mappings)):
        text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in mappings)
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(text)
        except OSError as exc:
            key = "uidMappings" if name == "uid_map" else "gidMappings"
            raise RuntimeFailure(
                f"cannot write {name}: {exc.strerror}", where=f"linux.{key}"
            ) from None


def _open_exec_fifo(path: str) -> tuple[int, int]:
    """Make the exec fifo and open both ends here, for the init to inherit through fork.

    Opened by us (host root) rather than by the init: after pivot_root its path is gone, and in a
    user namespace the init could not even reach the runtime root. The init holding a writer
    makes its blocking read wait for `start`'s byte instead of seeing EOF; `start` opens the
    fifo with O_NONBLOCK and gets ENXIO once no init is left to read it.
    """
    os.mkfifo(path, 0o600)
    read_fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        write_fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except BaseException:
        os.close(read_fd)
        raise
    return read_fd, write_fd


def _write_oom_score_adj(pid: int, value: int) -> None:
    try:
        with open(f"/proc/{pid}/oom_score_adj", "w") as f:
            f.write(str(value))
    except OSError as exc:
        raise RuntimeFailure(
            f"cannot set oom_score_adj {value}: {exc.strerror}",
            where="process.oomScoreAdj",
            hint="lowering it needs CAP_SYS_RESOURCE",
        ) from None


def _now() -> str:
    # RFC 3339 with nanoseconds, as runc writes "created".
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"
