"""`bastion run --rm` of a local image imports only what it needs: the engine's twin of
tests/unit/cli/test_runc_import_budget.py. Every container pays the CLI's start-up
(bench/engine_run.py), so a new import on this path has to be argued for here.

The run goes through the lean launcher's set-up (`python3 -SE`, src/ and the venv's
site-packages on sys.path, as scripts/setup writes `.venv/bin/bastion`) and a real container
runs; then the test reads what ended up in `sys.modules`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bastion_testing.engine import Bastion, engine_rig

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.privileged

SRC = Path(__file__).resolve().parents[2] / "src"

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
}

#: All of sys.modules (the interpreter's own included) at the end of `run --rm IMAGE true`:
#: 154 when this budget was set, plus two; 164 once volumes, the HostConfig flags, restart
#: policies, the repair's stop points and the image verbs joined the engine (their modules,
#: shutil's bz2/lzma, datetime); 141 once dataclasses, typing and socket left the path (and
#: the image verbs and operations load in their own verbs); 137 once the engine's and the
#: images' documents went through bastion.jsonio, not json; plus two.
MODULE_BUDGET = 139

CHILD = """
import gc
import sys

gc.disable()
sys.path.insert(0, sys.argv[1])
sys.path.append(sys.argv[2])
from bastion.cli.front.main import main

code = main(sys.argv[4:])
sys.stdout.flush()
with open(sys.argv[3], "w") as f:
    f.write("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""


@pytest.fixture(scope="module")
def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
    with engine_rig(busybox_rootfs, prefix="bst-test-engine-imports-") as b:
        yield b


def test_run_rm_of_a_local_image_imports_only_its_path(bastion: Bastion, tmp_path: Path) -> None:
    listing = tmp_path / "modules"
    site_packages = sysconfig.get_paths()["purelib"]
    argv = [sys.executable, "-SE", "-c", CHILD, str(SRC), site_packages, str(listing)]
    # --network none: the path this budget was set on (a bridge adds pyroute2, see
    # docs/network.md: its import is most of what a bridge costs)
    cli = bastion.argv("run", "--rm", "--network", "none", bastion.image, "echo", "ran")[1:]
    result = subprocess.run([*argv, *cli], capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stdout) == (0, "ran\n"), result.stderr
    loaded = set(listing.read_text().split())
    assert "bastion.engine.engine" in loaded and "bastion.images.overlay" in loaded
    heavy = {m for m in loaded if m in FORBIDDEN or m.split(".")[0] in FORBIDDEN}
    heavy |= {m for m in loaded if any(m.startswith(f + ".") for f in FORBIDDEN)}
    assert not heavy, sorted(heavy)
    assert len(loaded) <= MODULE_BUDGET, f"{len(loaded)} modules: a new import on run's path?"
    assert os.listdir(os.path.join(bastion.root, "containers")) == []  # --rm removed it
