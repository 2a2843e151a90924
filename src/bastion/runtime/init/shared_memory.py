"""The compiled init in the caller's own memory until it execs (_initexec.c, "Shared memory").

Why: cloning `create`'s Python process copies its page tables (~1.5 ms on this kind of
machine), and every page either side writes before the init execs is then copied on write
(~330 faults in `create` after the clone). With CLONE_VM, neither happens.

What the caller gives up until the init has exec'd: the init has no memory descriptor of its
own, so it shows the caller's command line and has the caller's dumpability. So the caller
writes the init's title over its own command line before the clone (the container must never
see the host's command line: it names the runtime root and the bundle), the init's
PR_SET_DUMPABLE makes the caller non-dumpable too, and `release` puts both back once the init
has left, for a caller that lives on (`run` waits for its container, and a library caller may
create many). Only for callers that say so (`CreateOptions.shared_memory_init`, set by
bastion-runc's `create` and `run`), and where the compiled module offers it (x86_64).
"""

from __future__ import annotations

from bastion._record import record
from bastion._sys import prctl as _prctl

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

#: How long `release` waits for the init to exec or die before it leaves the title as it is
#: (the init is then still in the caller's memory: its command line must stay the title).
RELEASE_TIMEOUT = 5.0


@record
class SharedInit:
    """An init spawned in the caller's memory, and what the caller had before it."""

    handle: int  # _native.spawn_init's: names the init's stack region
    cmdline: bytes  # the caller's argument area before the title went over it
    dumpable: bool


def offered(native: ModuleType | None) -> bool:
    return native is not None and bool(getattr(native, "SHARED_MEMORY", 0))


def prepare(title: str) -> tuple[bytes, bool]:
    """Before the clone: the caller's argument area and dumpability as they are, then `title`
    over the area (the init will show it)."""
    saved = _prctl.cmdline_area(), _prctl.get_dumpable()
    _prctl.set_cmdline(title)
    return saved


def restore(cmdline: bytes, dumpable: bool) -> None:
    _prctl.write_cmdline_area(cmdline)
    _prctl.set_dumpable(dumpable)


def release(shared: SharedInit, timeout: float = RELEASE_TIMEOUT) -> bool:
    """Once the init has exec'd or died: the caller's command line and dumpability back.
    False (nothing changed) if it has not within `timeout` seconds."""
    from bastion._sys.libc import native

    if native is None or not native.init_left(shared.handle, timeout):
        return False
    restore(shared.cmdline, shared.dumpable)
    return True
