"""Every message of the parent <-> child handshake, and the data the ones that carry data carry.

`create` (parent) talks to its intermediate and then to the init; `exec` to its intermediate and
then to the tenant (tenant.py). Each message is one datagram on the channel (channel.py), a JSON
object whose "type" is one of `Message`'s constants and whose other keys are the fields of the
message's payload record, if it has one. A descriptor rides along as SCM_RIGHTS.

The order, for `create` (-> parent to child, <- child to parent):

    -> GO            go on (the intermediate placed itself in the cgroup: cgroups/attach.py)
    <- IDMAP         (new user namespace only) it exists: write its id maps
    -> IDMAP_DONE    they are written
    <- INIT          the init's pid (Pid); the intermediate exits
    <- PRE_PIVOT     (handshake) the init has mounted everything but not pivoted: run
                     prestart, createRuntime
    -> HOOKS_DONE    (handshake) they ran; the OCI state createContainer gets (HookState)
    <- CONSOLE       (terminal only) the pty master, with its name (Console)
    <- MOUNTS_DONE   (handshake) the rootfs is final
    -> CONTINUE      (handshake) go on; the OCI state startContainer gets (HookState)
    <- SECCOMP       (SCMP_ACT_NOTIFY only) the notify fd, for the agent at listenerPath
    <- READY         set up; the init waits on the exec fifo

The handshake messages are exchanged only where a prestart, createRuntime, createContainer or
startContainer hook is configured (or a test arms a crash point): InitConfig.handshake.

And for `exec`: -> GO, <- TENANT (Pid), <- CONSOLE, <- SECCOMP, <- EXEC, then EOF when the
close-on-exec channel goes with the exec. Any child may send ERROR (ErrorReport) instead of
what the parent waits for; the parent raises the child's error again, same class, same fields.
The compiled init (plan.py) sends PLAN_ERROR instead, {"op": step, "kind": how, "errno": ...},
which the parent words as the Python init would have (Channel.explain).
"""

from __future__ import annotations

from bastion._record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeAlias

    from bastion.runtime.state import OciState


class Message:
    """The "type" of each message (plain str constants: `enum` costs start-up time)."""

    GO = "go"
    IDMAP = "idmap"
    IDMAP_DONE = "idmap-done"
    INIT = "init"
    TENANT = "tenant"
    PRE_PIVOT = "pre-pivot"
    HOOKS_DONE = "hooks-done"
    CONSOLE = "console"
    MOUNTS_DONE = "mounts-done"
    CONTINUE = "continue"
    SECCOMP = "seccomp"
    READY = "ready"
    EXEC = "exec"
    ERROR = "error"
    PLAN_ERROR = "plan-error"


@record
class Pid:
    """INIT, TENANT: the new process's pid, in the parent's pid namespace."""

    pid: int


@record
class HookState:
    """HOOKS_DONE, CONTINUE: the OCI state document the init passes to its hooks."""

    state: OciState


@record
class Console:
    """CONSOLE (with the pty master as SCM_RIGHTS): the pty's name inside the container."""

    name: str


@record
class ErrorReport:
    """ERROR: what the child caught, enough for the parent to raise the same error again.

    `error_class` is "module:qualname" of a `BastionError` subclass ("" for any other
    exception, which the parent raises as `InitFailed`); `fields` the error's other attributes
    whose values are JSON scalars (e.g. `InvalidState.status`).
    """

    error_class: str
    message: str
    where: str | None
    hint: str | None
    reference: str | None
    fields: dict[str, str | int | float | bool | None]


if TYPE_CHECKING:
    #: Every payload record a message can carry.
    Payload: TypeAlias = Pid | HookState | Console | ErrorReport
