"""The Debian test image (`scripts/images debian`): mmdebstrap's minbase bookworm plus bash and
python3, built from the Debian mirror apt uses here and cached in .cache/images/ (built by this
test when missing), imported into a private engine root and pushed to the loopback registry by
the script; then it runs `apt-get`, `python3` and `bash` under `bastion run`."""

from __future__ import annotations

import json
import os
import subprocess
from typing import TYPE_CHECKING

import pytest

from bastion_testing.engine import Bastion, engine_rig
from bastion_testing.registry import SKOPEO
from bastion_testing.rootfs import REPO

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

SCRIPT = os.path.join(REPO, "scripts", "images")


@pytest.fixture(scope="module")
def debian(busybox_rootfs: str) -> Iterator[Bastion]:
    """The rig with the Debian image built (or taken from .cache), imported and pushed to the
    rig's registry by the script, as on a fresh machine."""
    if subprocess.run(["which", "mmdebstrap"], capture_output=True).returncode != 0:
        pytest.skip("mmdebstrap is not installed (scripts/setup installs it)")
    with engine_rig(busybox_rootfs, prefix="bst-test-debian-") as b:
        registry = b.image.split("/", 1)[0]
        pushed = f"{registry}/debian:bookworm"
        built = subprocess.run(
            [SCRIPT, "debian", "--root", b.root, "--push", pushed],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert built.returncode == 0, built.stderr
        assert os.path.getsize(os.path.join(REPO, ".cache/images/debian-bookworm-minbase.tar"))
        # the registry has it, layer for layer (the push; pulling 200 MB back would add little)
        seen = subprocess.run(
            [SKOPEO, "inspect", "--config", "--tls-verify=false", f"docker://{pushed}"],
            capture_output=True,
            check=True,
        )
        (doc,) = json.loads(b.ok("image", "inspect", "localhost/debian:bookworm"))
        assert json.loads(seen.stdout)["rootfs"]["diff_ids"] == doc["RootFS"]["Layers"]
        b.image = "localhost/debian:bookworm"
        yield b


def test_apt_get_runs(debian: Bastion) -> None:
    result = debian("run", "--rm", debian.image, "apt-get", "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("apt ") and "(amd64)" in result.stdout.splitlines()[0]


def test_python3_computes(debian: Bastion) -> None:
    result = debian("run", "--rm", debian.image, "python3", "-c", "print(6*7)")
    assert (result.returncode, result.stdout) == (0, "42\n"), result.stderr


def test_bash_runs_and_is_the_default_command(debian: Bastion) -> None:
    result = debian("run", "--rm", debian.image, "bash", "-c", "echo $BASH_VERSION")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("5.2.")
    (doc,) = json.loads(debian.ok("image", "inspect", debian.image))
    assert doc["Config"]["Cmd"] == ["/bin/bash"]
    assert doc["Os"] == "linux" and len(doc["RootFS"]["Layers"]) == 1
