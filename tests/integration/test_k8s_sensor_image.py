"""The sensor's image (deploy/kubernetes) runs the compiled decoder, not the Python one.

`make-context` prepares a real context; the test lays it out as the Dockerfile says (its COPY
lines and its ENV, read with bastion's own Dockerfile parser; the wheels unpacked onto the
image's PYTHONPATH as its RUN line does) in a directory that a private mount namespace shows at
/opt, where the image has it. The image's python3 is Debian 12's /usr/bin/python3, the host's.
There, with only the Dockerfile's environment, bastion must come from the layout and its
decoder must be the compiled one. Without the Dockerfile's BASTION_SENSOR_ACCEL_DIR the same
layout decodes in Python, which is what the image did before (the check can fail).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from bastion.engine.builder.dockerfile import key_values, parse

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "kubernetes"
#: Where the image keeps bastion; the layout below stands in for it.
IMAGE_DIR = "/opt"

PROBE = """
import bastion
from bastion.sensor.probe.decode import Decoder
print(os.path.dirname(bastion.__file__))
print(Decoder(boot_epoch=0).accelerated)
"""


def _layout(context: Path, root: Path) -> dict[str, str]:
    """Lays `context` out under `root` (standing for /opt) as the Dockerfile does; its ENV."""
    dockerfile = parse((context / "Dockerfile").read_text())
    env: dict[str, str] = {}
    for instruction in dockerfile.instructions:
        if instruction.keyword == "ENV":
            for name, value in key_values(instruction.text, env, "\\", keyword="ENV"):
                env[name] = value or ""
        elif instruction.keyword == "COPY":
            source, target = instruction.text.split()
            if target.startswith(("/tmp/", "/usr/local/bin/")):
                continue  # the wheels are unpacked below, as the RUN line does; the launchers
                # are not needed: the probe script is run by python3 itself
            assert target.startswith(IMAGE_DIR + "/"), instruction.original
            here = root / target.removeprefix(IMAGE_DIR + "/")
            if (context / source).is_dir():
                shutil.copytree(context / source, here, dirs_exist_ok=True)
            else:
                here.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(context / source, here)
    lib = root / env["PYTHONPATH"].removeprefix(IMAGE_DIR + "/")
    for wheel in (context / "wheels").glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(lib)
    return env


def _in_image(root: Path, env: dict[str, str]) -> list[str]:
    """PROBE's lines, run by /usr/bin/python3 with `env` only and `root` mounted at /opt."""
    script = "import os\n" + PROBE
    done = subprocess.run(
        [
            "unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind "$1" "$2" && shift 2 && exec "$@"', "sh", str(root), IMAGE_DIR,
            "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            *(f"{name}={value}" for name, value in env.items()),
            "/usr/bin/python3", "-c", script,
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_sensor_image_decodes_with_the_compiled_decoder(tmp_path: Path) -> None:
    context, root = tmp_path / "context", tmp_path / "opt"
    made = subprocess.run(
        [str(DEPLOY / "make-context"), str(context)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    env = _layout(context, root)
    assert os.path.exists(root / env["BASTION_PROBE_OBJECT"].removeprefix(IMAGE_DIR + "/"))

    package, accelerated = _in_image(root, env)
    assert package == f"{env['PYTHONPATH']}/bastion"  # the image's copy, not the checkout's
    assert accelerated == "True"

    without = {name: value for name, value in env.items() if name != "BASTION_SENSOR_ACCEL_DIR"}
    assert _in_image(root, without)[1] == "False"
