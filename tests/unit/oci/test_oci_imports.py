"""bastion.oci stays cheap to import: bastion-runc imports it on every call."""

from __future__ import annotations

import ast
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


def _private_oci_imports(path: Path) -> list[str]:
    """`bastion.oci` names starting with `_` that `path` imports (modules or names in them)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("bastion.oci")
        ):
            parts = node.module.split(".")
            names = [alias.name for alias in node.names]
            if any(p.startswith("_") for p in parts[2:]) or any(n.startswith("_") for n in names):
                found.append(f"from {node.module} import {', '.join(names)}")
        elif isinstance(node, ast.Import):
            found.extend(
                f"import {alias.name}"
                for alias in node.names
                if alias.name.startswith("bastion.oci.")
                and any(p.startswith("_") for p in alias.name.split(".")[2:])
            )
    return found


def test_nothing_outside_oci_imports_its_private_names() -> None:
    """The runtime, the CLIs, benches and tests use oci's public surface (`bastion.oci.__all__`
    and its public modules); `_reader`, `_linux`, `_validate_linux` and `_`-names stay inside."""
    repo = SRC.parent
    oci_dir = SRC / "bastion" / "oci"
    offenders = {
        str(path.relative_to(repo)): found
        for top in ("src", "tests", "bench")
        for path in sorted((repo / top).rglob("*.py"))
        if oci_dir not in path.parents and (found := _private_oci_imports(path))
    }
    assert offenders == {}


def test_the_private_import_check_can_fail(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from bastion.oci._reader import SpecError\n"
        "from bastion.oci.decode import _parse\n"
        "import bastion.oci._linux\n"
        "from bastion.oci.decode import SpecError as E\n"
    )
    assert _private_oci_imports(sample) == [
        "from bastion.oci._reader import SpecError",
        "from bastion.oci.decode import _parse",
        "import bastion.oci._linux",
    ]


def test_the_public_surface_costs_no_extra_module_on_the_create_path() -> None:
    # What `create` imports of oci: decode (with its private helpers) and validate; reading the
    # public names through the package must not load defaults or state on top.
    direct = _modules_after(
        "from bastion.oci.decode import SpecError, decode_spec, read_config\n"
        "from bastion.oci.validate import validate_spec"
    )
    through_package = _modules_after(
        "from bastion.oci import SpecError, decode_spec, read_config, validate_spec, "
        "parse_json, decode_resources"
    )
    assert through_package == direct
