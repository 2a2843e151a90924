"""bastion.oci stays cheap to import: bastion-runc imports it on every call."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import bastion.oci

SRC = Path(bastion.oci.__file__).resolve().parents[2]

# docs/architecture.md "The fast path": never at module level on the start-up path.
FORBIDDEN = ("typing", "dataclasses", "json", "re", "enum", "pathlib", "logging", "subprocess")


def _modules_after(statement: str) -> set[str]:
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(SRC)!r})\n"
        f"{statement}\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    # -S: no site (as bastion-runc runs), -E: ignore PYTHON* variables.
    out = subprocess.run(
        [sys.executable, "-S", "-E", "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return set(out.split())


def test_importing_bastion_oci_loads_no_heavy_module() -> None:
    loaded = _modules_after("import bastion.oci")
    # The re-exports are lazy (PEP 562): the package alone loads none of its modules.
    assert sorted(m for m in loaded if m.startswith("bastion.oci.")) == []
    loaded = _modules_after("from bastion.oci import Spec, decode_spec, validate_spec, State")
    assert {"bastion.oci.decode", "bastion.oci.validate", "bastion.oci.state"} <= loaded
    assert "bastion.oci.defaults" not in loaded
    assert sorted(set(FORBIDDEN) & loaded) == []


def test_decoding_and_validating_load_no_heavy_module() -> None:
    text = json.dumps(bastion.oci.default_spec())
    loaded = _modules_after(
        "from bastion.oci import decode_spec, validate_spec\n"
        f"validate_spec(decode_spec({text!r}), require_process=True)"
    )
    assert sorted(set(FORBIDDEN) & loaded) == []


def test_bastion_oci_imports_no_upper_layer() -> None:
    loaded = _modules_after("import bastion.oci")
    upper = ("bastion.runtime", "bastion.sensor", "bastion.cli", "bastion.engine")
    assert sorted(m for m in loaded if m.startswith(upper)) == []


def test_public_names_are_exported() -> None:
    for name in bastion.oci.__all__:
        assert hasattr(bastion.oci, name), name
