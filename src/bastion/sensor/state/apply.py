"""The dispatch table: Falco event name -> the handler that updates the tables for it.

Derived from the event tables' rows (`kinds`): each row names its handler by a key, resolved
here to a function; which events are metadata, clones, unpaired or no syscall's first half
comes from the same rows. Handlers run on exit events ('<'); enter events only leave their
parameters for the exit to read (old captures put some arguments, such as close's fd, on the
enter side only). Event types with no handler change nothing; the facade still attaches their
thread and fd.
"""

from __future__ import annotations

from collections.abc import Callable

from bastion.sensor.events.model import Event
from bastion.sensor.state import kinds, on_files, on_meta, on_net, on_process
from bastion.sensor.state.model import FdType, Thread
from bastion.sensor.state.tables import Tables

Handler = Callable[[Tables, Event, Thread], None]
MetaHandler = Callable[[Tables, Event], None]

# A row's handler key -> the function. Thread handlers run on the event's thread.
THREAD_KEYS: dict[str, Handler] = {
    "execve": on_process.on_execve,
    "procexit": on_process.on_procexit,
    "chdir": on_process.on_chdir,
    "fchdir": on_process.on_fchdir,
    "setuid": on_process.on_setuid,
    "setgid": on_process.on_setgid,
    "setresuid": on_process.on_setresuid,
    "setresgid": on_process.on_setresgid,
    "capset": on_process.on_capset,
    "open": on_files.on_open,
    "memfd_create": on_files.on_memfd_create,
    "pipe": on_files.on_pipe,
    "dup": on_files.on_dup,
    "close": on_files.on_close,
    "bpf": on_files.on_bpf,
    # calls whose result is a new fd of a fixed kind with no name
    "eventfd": on_files.anon_fd_handler(FdType.EVENT),
    "signalfd": on_files.anon_fd_handler(FdType.SIGNALFD),
    "timerfd": on_files.anon_fd_handler(FdType.TIMERFD),
    "inotify": on_files.anon_fd_handler(FdType.INOTIFY),
    "epoll": on_files.anon_fd_handler(FdType.EVENTPOLL),
    "userfaultfd": on_files.anon_fd_handler(FdType.USERFAULTFD),
    "io_uring": on_files.anon_fd_handler(FdType.IOURING),
    "socket": on_net.on_socket,
    "socketpair": on_net.on_socketpair,
    "bind": on_net.on_bind,
    "listen": on_net.on_listen,
    "connect": on_net.on_connect,
    "accept": on_net.on_accept,
    "datagram": on_net.on_datagram,
}
# Machine-wide records: no thread (libsinsp attaches none either).
META_KEYS: dict[str, MetaHandler] = {
    "container": on_meta.on_container,
    "user_added": on_meta.on_user_added,
    "group_added": on_meta.on_group_added,
}
# A new thread: `on_process.on_clone` makes it before anything else reads the event's thread.
CLONE_KEY = "clone"


def _resolve() -> tuple[dict[str, Handler], dict[str, MetaHandler], frozenset[str]]:
    handlers: dict[str, Handler] = {}
    meta: dict[str, MetaHandler] = {}
    clones: set[str] = set()
    for name, key in kinds.handler_keys().items():
        if key in THREAD_KEYS:
            handlers[name] = THREAD_KEYS[key]
        elif key in META_KEYS:
            meta[name] = META_KEYS[key]
        elif key == CLONE_KEY:
            clones.add(name)
        else:
            raise KeyError(f"event {name!r} names handler {key!r}, which the state lacks")
    return handlers, meta, frozenset(clones)


HANDLERS, META_HANDLERS, CLONE_EVENTS = _resolve()
ALWAYS = kinds.UNPAIRED
NOT_SYSCALLS = kinds.NOT_SYSCALLS
