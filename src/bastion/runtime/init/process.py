"""The container process's identity and limits, then exec: the last steps of the init.

Order (runc's linuxStandardInit + finalizeNamespace): rlimits -> bounding set -> user/groups
(keeping capabilities across setuid) -> cwd -> capability sets -> no_new_privs -> fds -> exec.
"""

from __future__ import annotations

import _signal
import errno
import os

from bastion._sys import prctl as _prctl
from bastion._sys import pty
from bastion._sys.rlimit import RLIM_INFINITY, setrlimit
from bastion.oci.vocabulary import RLIMITS
from bastion.runtime import capabilities
from bastion.runtime.errors import RuntimeFailure
from bastion.runtime.init.messages import Console, Message

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import Process
    from bastion.runtime.init.channel import Channel
    from bastion.runtime.seccomp import Filter

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def set_rlimits(process: Process) -> None:
    for index, rlimit in enumerate(process.rlimits):
        soft, hard = rlimit_value(rlimit.soft), rlimit_value(rlimit.hard)
        try:
            setrlimit(RLIMITS[rlimit.type], soft, hard, rlimit.type)
        except OSError as exc:
            raise rlimit_failure(process, index, exc) from None


def rlimit_failure(process: Process, index: int, exc: OSError) -> RuntimeFailure:
    """The error of a refused `process.rlimits[index]` (also the compiled init's: plan.py)."""
    rlimit = process.rlimits[index]
    hint = None
    if isinstance(exc, PermissionError):
        hint = "raising a hard limit needs CAP_SYS_RESOURCE, which this runtime lacks"
    elif exc.errno == errno.EINVAL:
        hint = "the soft limit must not exceed the hard limit"
    return RuntimeFailure(
        f"cannot set {rlimit.type} to soft={rlimit.soft} hard={rlimit.hard}: {exc}",
        where=f"process.rlimits[{index}]",
        hint=hint,
    )


def rlimit_value(value: int) -> int:
    """A config's limit as prlimit64 takes it: beyond the largest, or negative, is unlimited."""
    return RLIM_INFINITY if value >= RLIM_INFINITY or value < 0 else value


def find_executable(process: Process, env: dict[str, str]) -> str:
    """Resolve args[0] like execvp, inside the container, so `create` reports a missing binary.

    The messages are runc's words on purpose: Podman turns them into exit statuses 127 ("not
    found", "no such file or directory") and 126 ("permission denied").
    """
    name = process.args[0]
    if "/" in name:
        path = name if name.startswith("/") else os.path.join(process.cwd, name)
        if not os.path.exists(path):
            _not_runnable(name, f"stat {path}: no such file or directory", "executable-not-found")
        if os.path.isdir(path) or not os.access(path, os.X_OK):
            _not_runnable(name, "permission denied", "executable-not-executable")
        return path
    for directory in env.get("PATH", DEFAULT_PATH).split(":"):
        path = os.path.join(directory or ".", name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    _not_runnable(name, "executable file not found in $PATH", "executable-not-found")
    raise AssertionError("unreachable")


def _not_runnable(name: str, why: str, reference: str) -> None:
    raise not_runnable(name, why, reference)


def not_runnable(name: str, why: str, reference: str) -> RuntimeFailure:
    """The error of a program that cannot be run (also the compiled init's: plan.py)."""
    return RuntimeFailure(
        f'exec: "{name}": {why}',
        where="process.args[0]",
        hint="check the path, its mode and the PATH in process.env",
        reference=reference,
    )


def environment(process: Process, *, home: bool = True) -> dict[str, str]:
    """process.env as a dict (the last of a repeated name wins), with HOME from the container's
    /etc/passwd where it is missing unless not `home` (the compiled init looks it up itself)."""
    env: dict[str, str] = {}
    for item in process.env:
        key, _, value = item.partition("=")
        env[key] = value
    if home and "HOME" not in env:
        env["HOME"] = _home_of(process.user.uid)
    return env


def _home_of(uid: int) -> str:
    # runc sets HOME from the container's /etc/passwd when the config does not.
    try:
        with open("/etc/passwd", "rb") as f:
            for line in f.read().decode(errors="replace").splitlines():
                parts = line.split(":")
                if len(parts) >= 6 and parts[2] == str(uid):
                    return parts[5] or "/"
    except OSError:
        pass
    return "/"


def become(
    process: Process, env: dict[str, str], seccomp_filter: Filter | None, chan: Channel
) -> str:
    """Switch to the configured user, cwd, capabilities and no_new_privs, and load seccomp at
    runc's moment; returns the executable to exec. A notify fd goes to the parent on `chan`."""
    notify = None
    early = seccomp_filter is not None and not process.no_new_privileges
    if early:
        # Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: before the caps drop.
        notify = _load_seccomp(seccomp_filter)
    switch_user(process)
    enter_cwd(process)
    executable = find_executable(process, env)
    restrict(process)
    if seccomp_filter is not None and not early:
        notify = _load_seccomp(seccomp_filter)  # as late as possible, after no_new_privs
    if notify is not None:
        try:
            chan.send_fd(Message.SECCOMP, notify)
        finally:
            os.close(notify)
    return executable


def _load_seccomp(seccomp_filter: Filter | None) -> int | None:
    from bastion.runtime.seccomp import load  # loaded with compile_filter, before pivot_root

    assert seccomp_filter is not None
    return load(seccomp_filter)


def switch_user(process: Process) -> None:
    """Groups, gid, uid; capabilities in the permitted set survive thanks to PR_SET_KEEPCAPS."""
    user = process.user
    if process.capabilities is not None:
        capabilities.drop_bounding(process.capabilities)
    _prctl.set_keepcaps(True)
    try:
        os.setgroups(list(user.additional_gids))
        os.setresgid(user.gid, user.gid, user.gid)
        os.setresuid(user.uid, user.uid, user.uid)
    except OSError as exc:
        raise RuntimeFailure(
            f"cannot switch to uid {user.uid} gid {user.gid}: {exc.strerror}",
            where="process.user",
            hint="in a user namespace the ids must be mapped",
        ) from None
    finally:
        _prctl.set_keepcaps(False)
    os.umask(0o022 if user.umask is None else user.umask)


def enter_cwd(process: Process) -> None:
    try:
        os.chdir(process.cwd)
    except OSError as exc:
        raise RuntimeFailure(
            f"cannot enter {process.cwd!r}: {exc.strerror}", where="process.cwd"
        ) from None


def restrict(process: Process) -> None:
    if process.capabilities is not None:
        capabilities.apply_sets(process.capabilities)
    if process.no_new_privileges:
        _prctl.set_no_new_privs()


def attach_terminal(process: Process, chan: Channel) -> None:
    """A pty from the container's own devpts; the master goes to the parent, the slave becomes
    our stdio and controlling terminal (runc's setupConsole)."""
    try:
        master, slave, name = pty.open_pty("/dev/ptmx")
    except OSError as exc:
        raise RuntimeFailure(
            f"cannot open a terminal through /dev/ptmx: {exc.strerror}",
            where="process.terminal",
            hint="a devpts mount at /dev/pts (with newinstance,ptmxmode=0666) is needed",
        ) from None
    try:
        if process.console_size is not None:
            pty.set_window_size(slave, process.console_size.height, process.console_size.width)
        os.fchown(slave, process.user.uid, process.user.gid)
        chan.send_fd(Message.CONSOLE, master, Console(name=name))
    finally:
        os.close(master)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(slave)
    pty.make_controlling(0)


#: What the interpreter ignores from its start (SIGPIPE, SIGXFSZ: Python's start-up turns them to
#: SIG_IGN), which an exec would pass on: a container's `yes | head -n1` would see EPIPE instead
#: of dying of SIGPIPE. runc's and crun's containers start with them at SIG_DFL.
PYTHON_IGNORED = (_signal.SIGPIPE, _signal.SIGXFSZ)


def default_signals() -> None:
    """Give the signals the interpreter ignores their default action again, just before exec."""
    for signum in PYTHON_IGNORED:
        _signal.signal(signum, _signal.SIG_DFL)


def close_host_fds(preserve_fds: int) -> None:
    """Mark every descriptor past stdio and the preserved ones close-on-exec.

    The caller of bastion-runc (a shell, Podman, a CI runner) may have left descriptors open;
    none of them may reach the container (runc's CloseExecFrom).
    """
    first = 3 + preserve_fds
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        os.closerange(first, 65536)
        return
    for fd in fds:
        if fd >= first:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass  # the descriptor listdir itself used
    for fd in range(3, first):
        try:
            os.set_inheritable(fd, True)
        except OSError:
            pass
