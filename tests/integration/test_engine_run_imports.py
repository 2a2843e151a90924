"""`bastion run --rm` of a local image imports only what it needs: the engine's twin of
tests/unit/cli/test_runc_import_budget.py. Every container pays the CLI's start-up
(bench/engine_run.py), so a new import on this path has to be argued for here.

The run goes through the lean launcher's own set-up: `python3 -SE` runs the lines scripts/setup
wrote into `.venv/bin/bastion` before its call of `run_and_exit` (src/ and the venv's
site-packages on sys.path, the module archives of bastion/_boot.py), then `main`, and a real
container runs; then the test reads what ended up in `sys.modules` and where each came from.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bastion_testing.engine import Bastion, engine_rig

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.privileged

#: Not for a local image: the registry client and its TLS stack, layer unpacking, hashing
#: (OpenSSL), the sensor, the CLI's tables, the cgroup managers and the mount table (the OOM
#: count, the delete of an ended container and the parent-cgroup walk read the directories
#: create recorded), the seccomp compiler (the runtime's, under conmon, not ours).
FORBIDDEN = {
    "urllib3",
    "ssl",
    "http.client",
    "email",
    "rich",
    "yaml",
    "pyroute2",
    "zstandard",
    "tarfile",
    "gzip",
    "tempfile",
    "hashlib",
    "_hashlib",
    "secrets",
    "bastion.images.registry",
    "bastion.images.pull",
    "bastion.images.auth",
    "bastion.images.unpack",
    "bastion.images.reference",  # the name given is the recorded one: nothing to parse
    "ipaddress",
    "bastion.sensor",
    "bastion.runtime.cgroups.detect",
    "bastion.runtime.cgroups.v1",
    "bastion.runtime.cgroups.v2",
    "bastion.runtime.seccomp",
    # the engine's value classes are bastion._record records, its TYPE_CHECKING needs no typing
    # and the hostname is os.uname's: together ~15 ms of imports under a loaded machine's clock
    "dataclasses",
    "inspect",
    "ast",
    "typing",
    "socket",
    "json",  # the metadata, the monitor and the image documents read through bastion.jsonio
    # its archive formats' bz2 and lzma: trees go through bastion._sys.tree
    "shutil",
    # the package around _sqlite3 only adds datetime adapters, with datetime
    "sqlite3",
    "datetime",
}

#: All of sys.modules (the interpreter's own included) at the end of `run --rm IMAGE true`:
#: 154 when this budget was set, plus two; 164 once volumes, the HostConfig flags, restart
#: policies, the repair's stop points and the image verbs joined the engine (their modules,
#: shutil's bz2/lzma, datetime); 141 once dataclasses, typing and socket left the path (and
#: the image verbs and operations load in their own verbs); 137 once the engine's and the
#: images' documents went through bastion.jsonio, not json; 127 with the launcher's module
#: archives (bastion._boot) once shutil (its bz2, lzma, fnmatch, _compression, zlib) and the
#: sqlite3 package (its datetime) left the path; plus two; 130 with bastion.sqlite_wal (the
#: metadata's switch to WAL, shared with the alert store, that waits out a concurrent writer).
MODULE_BUDGET = 130

LAUNCHER = Path(sys.executable).parent / "bastion"
ENTRY = "from bastion.cli.front.main import run_and_exit\n"

CHILD = """
import sys

launcher, entry, listing, argv = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
before = set(sys.modules)  # the interpreter's own (encodings...), loaded before any launcher
with open(launcher) as f:
    exec(f.read().split(entry)[0])  # the launcher's set-up, not its run_and_exit
from bastion.cli.front.main import main

code = main(argv)
sys.stdout.flush()
with open(listing, "w") as f:
    for name, module in sorted(sys.modules.items()):
        spec = getattr(module, "__spec__", None)
        origin = getattr(spec, "origin", None) or ""
        loader = "interpreter" if name in before else type(getattr(spec, "loader", None)).__name__
        f.write(f"{name} {loader} {origin.endswith('.py')}\\n")
sys.exit(code)
"""


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-engine-imports-") as b:
        yield b


def test_run_rm_of_a_local_image_imports_only_its_path(bastion: Bastion, tmp_path: Path) -> None:
    launcher = LAUNCHER.read_text()
    assert "lean launcher" in launcher and ENTRY in launcher, "run scripts/setup"
    listing = tmp_path / "modules"
    # --network none: the path this budget was set on (a bridge adds pyroute2, see
    # docs/network.md: its import is most of what a bridge costs)
    cli = bastion.argv("run", "--rm", "--network", "none", bastion.image, "echo", "ran")[1:]
    argv = [sys.executable, "-SE", "-c", CHILD, str(LAUNCHER), ENTRY, str(listing), *cli]
    env = {**os.environ, **bastion.env}
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, env=env)
    assert (result.returncode, result.stdout) == (0, "ran\n"), result.stderr
    rows = [line.split() for line in listing.read_text().splitlines()]
    loaded = {name for name, _, _ in rows}
    assert "bastion.engine.engine" in loaded and "bastion.images.overlay" in loaded
    heavy = {m for m in loaded if m in FORBIDDEN or m.split(".")[0] in FORBIDDEN}
    heavy |= {m for m in loaded if any(m.startswith(f + ".") for f in FORBIDDEN)}
    assert not heavy, sorted(heavy)
    assert len(loaded) <= MODULE_BUDGET, f"{len(loaded)} modules: a new import on run's path?"
    # every module of Python source comes from one of the launcher's archives (the package's
    # and the standard library's roots in scripts/setup), but the interpreter's own and what
    # the archives' finder is imported with
    searched = {name for name, loader, source in rows if source == "True"}
    searched -= {name for name, loader, _ in rows if loader in ("ModuleArchive", "interpreter")}
    assert searched == {"bastion", "bastion._boot"}, "add them to the roots"
    assert os.listdir(os.path.join(bastion.root, "containers")) == []  # --rm removed it
