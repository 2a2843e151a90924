"""The official runtime-spec JSON schemas (../shared/oci beside the clone) as a test oracle."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

_REPO = Path(__file__).resolve().parents[3]
SCHEMA_DIR = Path(
    os.environ.get("BASTION_OCI_SCHEMA_DIR")
    or next(
        (
            str(p)
            for p in (
                _REPO.parent / "shared" / "oci" / "runtime-spec-schema",
                Path("/work/shared/oci/runtime-spec-schema"),
            )
            if p.is_dir()
        ),
        str(_REPO.parent / "shared" / "oci" / "runtime-spec-schema"),
    )
)
AVAILABLE = (SCHEMA_DIR / "config-schema.json").is_file()
MISSING_REASON = f"runtime-spec schemas not found in {SCHEMA_DIR} (set BASTION_OCI_SCHEMA_DIR)"


@functools.cache
def validator(entry: str) -> Any:
    import jsonschema  # type: ignore[import-untyped]  # jsonschema ships no type information

    # The schemas $ref each other by relative file name ("defs.json#/definitions/uint32"), so
    # each is registered under its file name, which is how those references resolve.
    resources = [
        (path.name, Resource.from_contents(json.loads(path.read_text()), DRAFT4))
        for path in SCHEMA_DIR.glob("*.json")
    ]
    registry: Registry[Any] = Registry().with_resources(resources)
    schema = json.loads((SCHEMA_DIR / entry).read_text())
    return jsonschema.Draft4Validator(schema, registry=registry)


def errors(entry: str, document: object) -> list[str]:
    """Schema violations of `document` against `entry` (e.g. "state-schema.json"), as text."""
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator(entry).iter_errors(document)
    ]
