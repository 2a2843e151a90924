"""The package's public surface: every name in `__all__` resolves (the lazy table is in step),
and what `bastion run` needs does not bring in the registry client's urllib3 and ssl."""

from __future__ import annotations

import subprocess
import sys

import bastion.images


def test_every_public_name_resolves() -> None:
    assert set(bastion.images.__all__) == set(bastion.images._WHERE)
    for name in bastion.images.__all__:
        assert getattr(bastion.images, name) is not None


def test_layout_layers_and_overlay_come_without_the_registry_client() -> None:
    code = (
        "import sys\n"
        "from bastion.images import ContainerFilesystem, LayerStore, Layout\n"
        "print(sorted(m for m in ('urllib3', 'ssl', 'zstandard', 'bastion.images.registry')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
