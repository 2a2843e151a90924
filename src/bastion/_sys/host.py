"""sethostname(2) and setdomainname(2)."""

from __future__ import annotations

from bastion._sys.libc import check, libc


def sethostname(name: str) -> None:
    raw = name.encode()
    check(libc.sethostname(raw, len(raw)), f"sethostname({name!r})")


def setdomainname(name: str) -> None:
    raw = name.encode()
    check(libc.setdomainname(raw, len(raw)), f"setdomainname({name!r})")
