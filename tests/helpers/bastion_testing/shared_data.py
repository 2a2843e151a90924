"""Where the tests find the reference data that does not live in the repository.

Falco's rules files and `fields.md`, the public `.scap` captures, the runtime-spec JSON schemas and
Docker's seccomp profile are read as oracles, not shipped: they sit in a `shared` directory beside
the clone (`../shared` seen from the repository), or wherever `BASTION_SHARED` points. Every test
and bench names them through this module, never through a path of one machine, and a test whose
data is absent skips itself saying which path it looked for and how to provide it.

Only `pytest` markers are built here (imported when asked), so a bench may import this module too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

ENV = "BASTION_SHARED"
REPO = Path(__file__).resolve().parents[3]


def shared_dir() -> Path:
    """`$BASTION_SHARED` when set, else the `shared` directory beside the repository."""
    configured = os.environ.get(ENV)
    return Path(configured) if configured else REPO.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path inside the shared data (it may not exist: check, or use `needs`/`require`)."""
    return shared_dir().joinpath(*parts)


def missing_reason(*parts: str) -> str:
    return (
        f"reference data {'/'.join(parts) or '.'} is absent: looked in {shared_path(*parts)} "
        f"(put the shared data beside the clone as ../shared, or set {ENV})"
    )


def present(*parts: str) -> bool:
    return shared_path(*parts).exists()


def needs(*parts: str) -> pytest.MarkDecorator:
    """A `skipif` marker for tests that read `shared/<parts>`."""
    import pytest

    return pytest.mark.skipif(not present(*parts), reason=missing_reason(*parts))


def require(*parts: str) -> Path:
    """The path of `shared/<parts>`, or skip the calling test when it is absent."""
    path = shared_path(*parts)
    if not path.exists():
        import pytest

        pytest.skip(missing_reason(*parts))
    return path


# The data sets the suites read, by name.
FALCO = ("falco",)
FALCO_RULES = ("falco", "falco_rules.yaml")
CAPTURES = ("falco", "captures")
OCI_SCHEMAS = ("oci", "runtime-spec-schema")
DOCKER_SECCOMP = ("oci", "docker-default-seccomp.json")
