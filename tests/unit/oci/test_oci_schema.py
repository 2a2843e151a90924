"""The official runtime-spec JSON schemas as the oracle for what we write and decode.

The schemas are shared reference data (`bastion_testing.shared_data`, oci/runtime-spec-schema,
copied from opencontainers/runtime-spec: see SOURCE.txt there); where it is absent these tests skip.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bastion import jsonio
from bastion.oci import State, Status, decode_spec, default_spec
from bastion_testing import schemas

pytestmark = pytest.mark.skipif(not schemas.AVAILABLE, reason=schemas.MISSING_REASON)
_errors = schemas.errors


@pytest.mark.parametrize("rootless", [False, True])
def test_default_spec_is_valid_against_config_schema(rootless: bool) -> None:
    assert _errors("config-schema.json", default_spec(rootless=rootless)) == []


def test_the_oracle_rejects_an_invalid_config() -> None:
    # Guards the registry set-up: a schema whose $refs failed to resolve would accept anything.
    doc = default_spec()
    doc["linux"]["resources"]["devices"][0]["allow"] = "no"  # type: ignore[index]
    doc["process"]["user"]["uid"] = -1  # type: ignore[index]
    assert len(_errors("config-schema.json", doc)) == 2


def test_full_decode_fixture_is_valid_against_config_schema() -> None:
    full = json.loads((Path(__file__).parent / "full-config.json").read_text())
    assert _errors("config-schema.json", full) == []


@pytest.mark.parametrize(
    "status", [Status.CREATING, Status.CREATED, Status.RUNNING, Status.STOPPED]
)
@pytest.mark.parametrize("annotations", [None, {}, {"org.example": "v"}])
def test_state_document_is_valid_against_state_schema(
    status: str, annotations: dict[str, str] | None
) -> None:
    state = State(
        oci_version="1.1.0",
        id="box",
        status=status,
        pid=4242,
        bundle="/srv/bundle",
        annotations=annotations,
    )
    doc = state.to_dict()
    assert _errors("state-schema.json", doc) == []
    # And it survives our own JSON writer unchanged.
    assert json.loads(jsonio.dumps(doc)) == doc


def test_paused_is_runc_s_extension_of_the_state_schema() -> None:
    doc = State(oci_version="1.1.0", id="b", status=Status.PAUSED, pid=1, bundle="/b").to_dict()
    assert [e.split(": ", 1)[0] for e in _errors("state-schema.json", doc)] == ["status"]


def test_decoder_accepts_what_the_schema_accepts_for_default_spec() -> None:
    doc = default_spec()
    assert _errors("config-schema.json", doc) == []
    decode_spec(jsonio.dumps(doc))
