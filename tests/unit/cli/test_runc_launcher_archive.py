"""The lean bastion-runc launcher's module archive covers every module bastion-runc loads.

scripts/setup writes the launcher with the roots of its archive (bastion/_boot.py); a module
outside them still imports (the ordinary way) but pays the search the archive saves, so each
verb and the children's modules are checked here, in a fresh `python -S` as the launcher runs.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SRC = REPO / "src"

PROBE = """
import sys
sys.path.insert(0, {src!r})
from bastion._boot import install
finder = install({archive!r}, {src!r}, {roots!r})
from bastion.cli.runc.main import main
main({argv!r})
import {children}
outside = sorted(
    name for name, module in sys.modules.items()
    if name.startswith("bastion") and getattr(module.__spec__, "loader", None) is not finder
)
print(",".join(outside))
"""
# what the intermediate and the init import before pivot_root (bastion/runtime/create.py)
CHILDREN = (
    "bastion.runtime.tenant, bastion.runtime.init.rootfs, bastion.runtime.init.process, "
    "bastion.runtime.seccomp, bastion.runtime.hooks, bastion.runtime.control, bastion.cli.runc.tty"
)


def launcher_roots() -> tuple[str, ...]:
    """The roots scripts/setup writes into the launcher's `install(...)` call."""
    setup = (REPO / "scripts" / "setup").read_text()
    call = re.search(r"^install\((.*?)^\)\)$", setup, re.MULTILINE | re.DOTALL)
    assert call is not None, "scripts/setup no longer writes install(...) into bastion-runc"
    names = re.findall(r'\\"([\w.]+)\\"', call.group(1))
    assert names, call.group(1)
    return tuple(names)


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--bundle", "/nonexistent-bst-test", "bst-test-archive"],
        ["exec", "bst-test-archive", "true"],
        ["delete", "bst-test-archive"],
        ["update", "--memory", "64m", "bst-test-archive"],
        ["events", "--stats", "bst-test-archive"],
        ["ps", "bst-test-archive"],
        ["spec", "--help"],
    ],
)
def test_every_module_of_a_verb_comes_from_the_archive(tmp_path: Path, argv: list[str]) -> None:
    code = PROBE.format(
        src=str(SRC),
        archive=str(tmp_path / "bastion-runc.modules"),
        roots=launcher_roots(),
        argv=["--root", str(tmp_path / "root"), *argv],
        children=CHILDREN,
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    # the package itself and the finder's own module are imported before it is installed; the
    # C extension of bastion/_sys (machine code, no code object to archive) is found on its path
    others = result.stdout.splitlines()[-1].split(",")
    assert [name for name in others if name != "bastion._sys._native"] == [
        "bastion",
        "bastion._boot",
    ]
