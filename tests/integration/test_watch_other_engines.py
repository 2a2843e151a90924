"""The sensor names containers other engines start, from those engines' own state.

Podman (private storage, cgroupfs) runs one container with bastion-runc, which gets no name
from Podman (the identity record, in bastion-runc's default root since Podman passes no
`--root`, says only the id), and one with runc, which writes no record
at all. Each container's first and only command reads /etc/group; both alerts must carry the
name given to `podman run --name` and the image, read synchronously from containers/storage
(sensor/state/engines.py), never the bare id. Pods under containerd's CRI are in
test_k8s_cri.py.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bastion.identity import DEFAULT_STATE_ROOT
from bastion_testing import bundle as _bundle
from bastion_testing import clients
from bastion_testing.watch import Watch

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.privileged, pytest.mark.bpf]

RULE = "bst-test group read in a container"


@pytest.fixture(scope="module")
def podman(busybox_rootfs: str, bastion_runc: str) -> Iterator[clients.Podman]:
    missing = clients.missing_binaries("podman", "conmon", "runc")
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (scripts/setup installs them)")
    name = _bundle.new_name()
    workdir = tempfile.mkdtemp(prefix=f"{name}-pm-", dir="/tmp")
    env = clients.Podman(workdir, bastion_runc, f"{_bundle.CGROUP_PARENT}/{name}")
    try:
        env.import_image(busybox_rootfs)
        yield env
    finally:
        problems = env.close()
    if problems:
        pytest.fail("Podman's clean-up left these:\n" + "\n".join(problems), pytrace=False)


def test_podman_containers_are_named_from_containers_storage(
    podman: clients.Podman, tmp_path: Path
) -> None:
    rules = tmp_path / "bst-test-rules.yaml"
    rules.write_text(
        f"- rule: {RULE}\n"
        "  desc: a container reads /etc/group\n"
        "  condition: evt.type in (open, openat, openat2) and evt.dir = < and"
        " fd.name = /etc/group and container.id != host\n"
        "  output: group read (container=%container.name id=%container.id"
        " image=%container.image.repository)\n"
        "  priority: WARNING\n"
    )
    watch = Watch(DEFAULT_STATE_ROOT, "-r", str(rules), env={"BASTION_PODMAN_STORAGE": podman.root})
    names = {
        "bastion-runc": _bundle.new_name("bst-test-pm-"),
        "runc": _bundle.new_name("bst-test-pm-"),
    }
    try:
        runtime = {"bastion-runc": [], "runc": ["--runtime", "/usr/sbin/runc"]}
        for which, name in names.items():
            podman(
                *runtime[which],
                "run",
                "--rm",
                "--name",
                name,
                *podman.run_flags,
                clients.IMAGE,
                "cat",
                "/etc/group",
                check=True,
            )
        time.sleep(1)  # the sensor evaluates a little after the syscall
        alerts, _ = watch.stop(timeout=60)
    finally:
        watch.kill()
    mine = [a["output_fields"] for a in alerts if a["rule"] == RULE]
    for which, name in names.items():
        named = [f for f in mine if f["container.name"] == name]
        assert named, f"no alert names the {which} container {name}: {mine}\n{''.join(watch.head)}"
        assert named[0]["container.image.repository"] == clients.IMAGE.rpartition(":")[0]
