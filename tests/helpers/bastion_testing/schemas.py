"""The official runtime-spec JSON schemas (shared reference data, `shared_data`) as an oracle."""

from __future__ import annotations

import functools
import json
from typing import Any

from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from bastion_testing import shared_data

SCHEMA_DIR = shared_data.shared_path(*shared_data.OCI_SCHEMAS)
AVAILABLE = (SCHEMA_DIR / "config-schema.json").is_file()
MISSING_REASON = shared_data.missing_reason(*shared_data.OCI_SCHEMAS)


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
