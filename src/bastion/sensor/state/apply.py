"""The dispatch table: Falco event name -> the handler that updates the tables for it.

Handlers run on exit events ('<'); enter events only leave their parameters for the exit to
read (old captures put some arguments, such as close's fd, on the enter side only). Event
types not listed change nothing; the facade still attaches their thread and fd.
"""

from __future__ import annotations

from collections.abc import Callable

from bastion.sensor.events.model import Event
from bastion.sensor.state import on_files, on_net, on_process
from bastion.sensor.state.model import Thread

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.sensor.state.sensor_state import SensorState

Handler = Callable[["SensorState", Event, Thread], None]

HANDLERS: dict[str, Handler] = {
    "execve": on_process.on_execve,
    "execveat": on_process.on_execve,
    "procexit": on_process.on_procexit,
    "chdir": on_process.on_chdir,
    "fchdir": on_process.on_fchdir,
    "setuid": on_process.on_setuid,
    "setgid": on_process.on_setgid,
    "setresuid": on_process.on_setresuid,
    "setresgid": on_process.on_setresgid,
    "capset": on_process.on_capset,
    "open": on_files.on_open,
    "openat": on_files.on_open,
    "openat2": on_files.on_open,
    "creat": on_files.on_open,
    "memfd_create": on_files.on_memfd_create,
    "pipe": on_files.on_pipe,
    "pipe2": on_files.on_pipe,
    "dup": on_files.on_dup,
    "dup2": on_files.on_dup,
    "dup3": on_files.on_dup,
    "close": on_files.on_close,
    "bpf": on_files.on_bpf,
    "socket": on_net.on_socket,
    "socketpair": on_net.on_socketpair,
    "bind": on_net.on_bind,
    "listen": on_net.on_listen,
    "connect": on_net.on_connect,
    "accept": on_net.on_accept,
    "accept4": on_net.on_accept,
}
HANDLERS.update((name, on_net.on_datagram) for name in sorted(on_net.DATAGRAM_EVENTS))
HANDLERS.update(
    (name, on_files.anon_fd_handler(kind)) for name, kind in on_files.ANON_KINDS.items()
)

# procexit is a scheduler event with no enter side: it runs whatever its direction says.
ALWAYS = frozenset({"procexit"})

# Enter-side events that are no syscall's first half (libscap's EF_SKIPPARSERESET, and the
# scheduler switch): they must not replace the pending enter event of their thread, or a
# read whose thread was switched out mid-call would lose its fd.
NOT_SYSCALLS = frozenset(
    {
        "container",
        "cpu_hotplug",
        "drop",
        "infra",
        "k8s",
        "mesos",
        "notification",
        "page_fault",
        "procinfo",
        "scapevent",
        "switch",
    }
)
