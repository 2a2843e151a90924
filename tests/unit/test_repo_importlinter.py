"""The import-linter contracts in pyproject.toml catch what they are meant to catch.

Each case lays out a fake `bastion` package in tmp_path and runs `lint-imports` with the real
pyproject.toml on it, so a contract that silently passes everything (a typo, a syntax that
import-linter reads differently) fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LINT_IMPORTS = os.path.join(os.path.dirname(sys.executable), "lint-imports")

# Only some packages exist, as early in the project: the missing ones are optional layers.
_BASE = {
    "__init__.py": "",
    "errors.py": "",
    "error_catalogue.py": "",
    "_record.py": "",
    "jsonio.py": "",
    "sqlite_wal.py": "",
    "_sys/__init__.py": "",
    "oci/__init__.py": "from bastion import errors, _record, jsonio\n",
    "runtime/__init__.py": "from bastion import oci, _sys\n",
    "cli/__init__.py": "",
    "cli/runc.py": "from bastion import runtime\n",
}


# The cgroup drivers, each with a module, and their common package.
_CGROUPS = {
    "runtime/cgroups/__init__.py": "",
    "runtime/cgroups/common/__init__.py": "",
    "runtime/cgroups/common/x.py": "",
    "runtime/cgroups/v1/__init__.py": "",
    "runtime/cgroups/v1/x.py": "from bastion.runtime.cgroups.common import x\n",
    "runtime/cgroups/v2/__init__.py": "",
    "runtime/cgroups/v2/x.py": "from bastion.runtime.cgroups.common import x\n",
}
_CG = "cgroup v1 and v2"


def _lint(tmp_path: Path, extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    for rel, text in {**_BASE, **extra}.items():
        path = tmp_path / "bastion" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    config = os.path.join(REPO, "pyproject.toml")
    return subprocess.run(
        [LINT_IMPORTS, "--config", config, "--no-cache"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_contracts_hold_on_a_tree_with_missing_packages(tmp_path: Path) -> None:
    result = _lint(tmp_path, {})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_cgroup_drivers_may_share_common(tmp_path: Path) -> None:
    result = _lint(tmp_path, _CGROUPS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("extra", "broken"),
    [
        ({"oci/bad.py": "import bastion.runtime\n"}, "layers:"),  # upward import
        ({"errors.py": "import bastion.cli\n"}, "layers:"),  # nothing imports cli
        ({"_sys/bad.py": "from bastion import jsonio\n"}, "layers:"),  # independent siblings
        (
            {"sensor/__init__.py": "", "runtime/bad.py": "import bastion.sensor\n"},
            "runtime and sensor",
        ),
        ({"sensor/__init__.py": "import bastion.runtime\n"}, "runtime and sensor"),
        ({"helpers.py": ""}, "layers:"),  # exhaustive: a module outside every layer
        ({**_CGROUPS, "runtime/cgroups/v1/m.py": "import bastion.runtime.cgroups.v2.x\n"}, _CG),
        (
            {**_CGROUPS, "runtime/cgroups/v2/m.py": "from bastion.runtime.cgroups.v1 import x\n"},
            _CG,
        ),
        (  # indirectly, through a module at cgroups/ level
            {
                **_CGROUPS,
                "runtime/cgroups/v1/m.py": "from bastion.runtime.cgroups import shared\n",
                "runtime/cgroups/shared.py": "import bastion.runtime.cgroups.v2.x\n",
            },
            _CG,
        ),
        ({**_CGROUPS, "runtime/cgroups/common/m.py": "import bastion.runtime.cgroups.v1.x\n"}, _CG),
    ],
)
def test_contracts_catch_violations(tmp_path: Path, extra: dict[str, str], broken: str) -> None:
    result = _lint(tmp_path, extra)
    assert result.returncode != 0
    verdicts = [line for line in result.stdout.splitlines() if line.endswith(("KEPT", "BROKEN"))]
    assert any(v.startswith(broken) and v.endswith("BROKEN") for v in verdicts), result.stdout
