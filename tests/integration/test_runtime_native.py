"""A container made with bastion/_sys's C extension and with its ctypes fallback is the same.

`create` and the init make their syscalls (clone3, mount, pivot_root, capset, prctl, sethostname,
setns...) through `bastion._sys._native`; without it (BASTION_TEST_NO_NATIVE=1 here) through
ctypes. Both must give the same container, and the extension's way must really load no ctypes:
the waiting init's memory maps show which shared objects the create and the init loaded.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from bastion._sys.libc import NO_NATIVE_ENV
from bastion.oci.vocabulary import CAPABILITIES
from bastion.runtime.init import CHILD_TITLE
from bastion_testing.bundle import read_config
from bastion_testing.runc import wait_no_leftovers

if TYPE_CHECKING:
    from bastion_testing.plugin import BundleFactory
    from bastion_testing.runc import Runc

pytestmark = pytest.mark.privileged


def _env(no_native: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != NO_NATIVE_ENV}
    if no_native:
        env[NO_NATIVE_ENV] = "1"
    return env


def _loaded(pid: int) -> set[str]:
    """The shared objects mapped by process `pid`, by file name."""
    with open(f"/proc/{pid}/maps") as f:
        return {line.split()[-1].rsplit("/", 1)[-1] for line in f if "/" in line}


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


@pytest.mark.parametrize("no_native", [False, True], ids=["native", "ctypes"])
def test_both_backends_make_the_same_container(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, no_native: bool
) -> None:
    bundle = bundle_factory(args=["sleep", "600"])
    hostname = read_config(bundle)["hostname"]
    env = _env(no_native)
    runc("create", "--bundle", bundle, container_id, check=True, env=env)
    try:
        init = int(runc.state(container_id)["pid"])
        loaded = _loaded(init)  # still the init: Python, waiting on the exec fifo
        with open(f"/proc/{init}/cmdline", "rb") as f:
            title = f.read().split(b"\0")[0].decode()
        runc("start", container_id, check=True, env=env)
        status = _status(init)
        script = "hostname; cat /proc/1/cmdline; echo; grep -c . /proc/self/mountinfo"
        inside = runc("exec", container_id, "sh", "-c", script, check=True, env=env).stdout.split()
    finally:
        runc("delete", "--force", container_id, check=True, env=env)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []
    native = any(name.startswith("_native.") for name in loaded)
    ctypes = any(name.startswith("_ctypes.") for name in loaded)
    assert (native, ctypes) == ((False, True) if no_native else (True, False)), sorted(loaded)
    assert title == CHILD_TITLE
    # capset and no_new_privs as config.json says, whichever way they were made
    process = read_config(bundle)["process"]
    for field, key in (("CapEff", "effective"), ("CapPrm", "permitted"), ("CapBnd", "bounding")):
        want = sum(1 << CAPABILITIES[name] for name in process["capabilities"][key])
        assert int(status[field], 16) == want, field
    assert status["CapAmb"] == "0000000000000000"
    assert status["NoNewPrivs"] == ("1" if process.get("noNewPrivileges") else "0")
    assert inside[:2] == [hostname, "sleep\x00600\x00"]
    assert int(inside[2]) > 5  # /, /proc, /dev, /dev/pts, /dev/shm, /sys...
