"""sethostname(2) and setdomainname(2)."""

from __future__ import annotations

from bastion._sys.libc import SYS_SETDOMAINNAME, SYS_SETHOSTNAME, syscall


def sethostname(name: str) -> None:
    raw = name.encode()
    syscall(SYS_SETHOSTNAME, raw, len(raw), what=f"sethostname({name!r})")


def setdomainname(name: str) -> None:
    raw = name.encode()
    syscall(SYS_SETDOMAINNAME, raw, len(raw), what=f"setdomainname({name!r})")
