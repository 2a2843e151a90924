"""bastion's rules engine version, and the ``required_engine_version`` check of a rules file.

Falco versions its rule language apart from its releases (``falco_engine_version.h``): a rules
file says the lowest engine it needs, and Falco refuses a file whose requirement it does not
meet. bastion's rule language matches **Falco 0.44's, engine version 0.57.0** (the version
falco-rules 5.1.0 asks for), so the same number is bastion's engine version.
"""

from __future__ import annotations

ENGINE_VERSION = (0, 57, 0)
FALCO_VERSION = "0.44"


def engine_version_text() -> str:
    return ".".join(map(str, ENGINE_VERSION))


def parse_engine_version(text: str) -> tuple[int, int, int] | None:
    """``0.57.0`` as a tuple; a bare integer N is Falco's old form, meaning 0.N.0; None when
    `text` is neither (Falco: "Unable to parse engine version ... as a semver string")."""
    text = text.strip()
    if text.isdigit():
        return (0, int(text), 0)
    parts = text.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return (int(parts[0]), int(parts[1]), int(parts[2]))
