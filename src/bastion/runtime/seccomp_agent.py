"""The parent's side of SCMP_ACT_NOTIFY: the init (or an exec'd tenant) sends its notify fd on
the sync channel, and we pass it to the agent at `linux.seccomp.listenerPath` with the container
process state (runtime-spec config-linux.md "Seccomp"), as runc does."""

from __future__ import annotations

import os

from bastion.runtime.init.messages import Message

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import Spec
    from bastion.runtime.init.channel import Channel
    from bastion.runtime.state import OciState


def has_notify(spec: Spec) -> bool:
    seccomp = spec.linux.seccomp if spec.linux else None
    return seccomp is not None and any(s.action == "SCMP_ACT_NOTIFY" for s in seccomp.syscalls)


def forward_notify_fd(chan: Channel, spec: Spec, state: OciState) -> None:
    """The container's seccomp notify fd goes to the agent at listenerPath, with the container
    process state (runtime-spec config-linux.md "Seccomp"), as runc does."""
    from bastion.runtime.seccomp import container_process_state, send_to_listener

    seccomp = spec.linux.seccomp if spec.linux else None
    assert seccomp is not None
    pid = state["pid"]
    assert type(pid) is int
    fd = chan.recv_fd(Message.SECCOMP)
    try:
        process_state = container_process_state(
            state=state,
            pid=pid,
            metadata=seccomp.listener_metadata,
            oci_version=str(state["ociVersion"]),
        )
        send_to_listener(str(seccomp.listener_path), fd, process_state)
    finally:
        os.close(fd)
