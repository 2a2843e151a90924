"""front.c spells out what runtime/lean.py names (C cannot import it): the two must agree.

The behavioural tests (test_runc_front.py) catch a wrong file name, since the front's tree must
equal the Python path's; a drifted time constant (how long `.gone` keeps a record, how often it
is pruned) would pass them, so the values are compared here, read from the C source.
"""

from __future__ import annotations

import re
from pathlib import Path

from bastion.identity import GONE_DIR, IDENTITY_FILE
from bastion.runtime import lean

FRONT_C = Path(lean.__file__).resolve().parents[1] / "cli" / "runc" / "front.c"


def _defines() -> dict[str, str]:
    text = FRONT_C.read_text()
    return dict(re.findall(r"^#define (\w+) (\S.*?)\s*(?:/\*.*)?$", text, re.MULTILINE))


def test_the_fronts_constants_are_lean_pys() -> None:
    defines = _defines()
    assert defines["PLAIN_MAGIC"] == f'"{lean.PLAIN_MAGIC}"'
    assert float(defines["GONE_KEEP"]) == lean.GONE_KEEP
    assert float(defines["GONE_PRUNE_EVERY"]) == lean.GONE_PRUNE_EVERY


def test_the_fronts_file_names_are_lean_pys() -> None:
    text = FRONT_C.read_text()
    for path in (
        f'"%s/{lean.LOCK_FILE}"',
        f'"%s/{lean.FIFO_FILE}"',
        f'"%s/{lean.PLAIN_FILE}"',
        f'"%s/{lean.CGROUP_PARENTS_FILE}"',
        f'"%s/{GONE_DIR}"',
        f'"%s/{lean.GONE_PRUNED_MARK}"',
        f'"%s/%s/{IDENTITY_FILE}"',
    ):
        assert path in text, f"front.c does not name {path}"
