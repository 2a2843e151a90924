"""`exec`: a new process in a running container, through the runtime library (what
`bastion-runc exec` does), from the calling process: no monitor, as `docker exec` needs none
once the process runs. The caller becomes the process's subreaper and waits for it.

The process is the container's own (its capabilities, seccomp filter, rlimits, no_new_privs)
with, as `docker exec`:
- the command given,
- the container's env with each `-e` replacing by name or appended (`TERM=xterm` with a
  terminal when unset), `HOME` from the user's passwd entry when `-u` is given and `-e` does
  not set it,
- `-u` resolved in the container's /etc/passwd and /etc/group (read inside its root
  filesystem: a symlink there cannot lead out of it), else the container's user,
- `-w`, else the container's working directory.

Its stdio: a new pty with `tty` (the session holds the master); else the caller's descriptors,
stdin only with `interactive` (else /dev/null), all /dev/null with `detach`. Statuses as Docker:
127 when the command is not found, 126 when it cannot be executed (`CommandError`).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bastion.engine.errors import CANNOT_INVOKE, NOT_FOUND, CommandError, InvalidOptionError
from bastion.engine.spec import merge_env, resolve_user

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from bastion.engine.metadata import ContainerRecord
    from bastion.oci.spec import Process


@dataclass(frozen=True)
class ExecConfig:
    """`docker exec`'s flags; `stdin`/`stdout`/`stderr` are the caller's descriptors the
    process gets when it has no terminal (`stdin` only with `interactive`)."""

    command: tuple[str, ...]
    user: str | None = None
    env: tuple[str, ...] = ()
    workdir: str | None = None
    tty: bool = False
    interactive: bool = False
    detach: bool = False
    stdin: int = 0
    stdout: int = 1
    stderr: int = 2


@dataclass
class ExecSession:
    """The running process: its host pid, and with a terminal the pty master (the caller's
    to read, write, resize and close)."""

    pid: int
    master: int | None = None

    def wait(self) -> int:
        """Its exit status, shell style (128+N for signal N)."""
        _, raw = os.waitpid(self.pid, 0)
        return 128 + os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.WEXITSTATUS(raw)


def exec_in(
    record: ContainerRecord, directory: str, runtime_root: str, config: ExecConfig
) -> ExecSession:
    """Start `config.command` in the container `record` (running; its directory and the
    runtime's state root given); returns once the process has exec'd."""
    from bastion.errors import BastionError
    from bastion.runtime.container import Container
    from bastion.runtime.tenant import ExecOptions, exec_process

    if not config.command:
        raise InvalidOptionError("exec needs a command", hint="bastion exec CONTAINER CMD...")
    container = Container.load(runtime_root, record.id)
    process = _process(container.spec().process, os.path.join(directory, "fs", "merged"), config)
    masters: list[int] = []
    receiver: Callable[[int, str], None] | None = None
    if config.tty:

        def receiver(fd: int, _name: str) -> None:
            masters.append(fd)

    try:
        with _stdio(config):
            pid = exec_process(container, ExecOptions(process=process, console_receiver=receiver))
    except BastionError as exc:
        raise _command_error(exc) from None
    return ExecSession(pid, masters[0] if masters else None)


def end_subreaper() -> None:
    """For a long-lived caller (the API server), once `exec_in` has returned: stop being the
    child subreaper it made us. The process is our child by then and stays so; processes
    orphaned later (conmon's daemons, which fork away from the engine) go to init instead of
    lingering as our zombies."""
    from bastion._sys.prctl import PR_SET_CHILD_SUBREAPER, prctl

    prctl(PR_SET_CHILD_SUBREAPER, 0, what="PR_SET_CHILD_SUBREAPER")


def _process(base: Process | None, rootfs: str, config: ExecConfig) -> Process:
    from bastion._record import replace
    from bastion.oci.spec import User

    assert base is not None
    env = merge_env(base.env, config.env)
    names = {entry.split("=", 1)[0] for entry in env}
    if config.tty and "TERM" not in names:
        env.append("TERM=xterm")
    user = base.user
    if config.user:
        uid, gid, groups, home = resolve_user(
            config.user, _read_in_root(rootfs, "etc/passwd"), _read_in_root(rootfs, "etc/group")
        )
        user = User(uid=uid, gid=gid, additional_gids=groups)
        if not any(entry.split("=", 1)[0] == "HOME" for entry in config.env):
            env = merge_env(tuple(env), (f"HOME={home}",))
    workdir = config.workdir or base.cwd
    if not workdir.startswith("/"):
        raise InvalidOptionError(
            f"the working directory {workdir!r} is invalid, it needs to be an absolute path"
        )
    return replace(
        base,
        args=tuple(config.command),
        terminal=config.tty,
        env=tuple(env),
        cwd=workdir,
        user=user,
        console_size=None,
    )


def _read_in_root(rootfs: str, path: str) -> str:
    """A small text file of the container, resolved inside its root (openat2 RESOLVE_IN_ROOT),
    "" when absent or unreadable."""
    from bastion._sys.mount import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, openat2

    try:
        root = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
        fd = openat2(root, path, os.O_RDONLY | os.O_CLOEXEC, resolve)
    except OSError:
        return ""
    finally:
        os.close(root)
    with open(fd, encoding="utf-8", errors="replace") as f:
        return f.read(1 << 20)


@contextlib.contextmanager
def _stdio(config: ExecConfig) -> Iterator[None]:
    """Our descriptors 0-2 set to what the process gets while the runtime forks it (it
    inherits them), then put back."""
    if config.tty:
        yield
        return
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    wanted = [
        config.stdin if config.interactive and not config.detach else null,
        null if config.detach else config.stdout,
        null if config.detach else config.stderr,
    ]
    saved: list[int | None] = []  # a copy of ours, None when ours was closed
    try:
        for target, source in enumerate(wanted):
            if source == target:
                continue
            try:
                saved.append(os.dup(target))
            except OSError:  # closed (a CI job without stdin): closed again afterwards
                saved.append(None)
            os.dup2(source, target, inheritable=True)
        yield
    finally:
        for target, copy in zip((t for t, s in enumerate(wanted) if s != t), saved, strict=False):
            if copy is None:
                os.close(target)
            else:
                os.dup2(copy, target, inheritable=True)
                os.close(copy)
        os.close(null)


def _command_error(exc: Exception) -> Exception:
    """Docker's statuses for a command that cannot run (the runtime's references)."""
    reference = getattr(exc, "reference", "")
    if reference == "executable-not-found":
        return CommandError(str(getattr(exc, "message", exc)), exit_code=NOT_FOUND)
    if reference == "executable-not-executable":
        return CommandError(str(getattr(exc, "message", exc)), exit_code=CANNOT_INVOKE)
    return exc
