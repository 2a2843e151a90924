"""State.to_dict: the OCI state document's exact shape."""

from __future__ import annotations

import pytest

from bastion._record import replace
from bastion.oci import STATUSES, State, Status

RUNNING = State(
    oci_version="1.1.0",
    id="box",
    status=Status.RUNNING,
    pid=4242,
    bundle="/srv/box",
    annotations={"org.example": "v"},
)


def test_running_state_has_every_key_in_spec_order() -> None:
    assert list(RUNNING.to_dict().items()) == [
        ("ociVersion", "1.1.0"),
        ("id", "box"),
        ("status", "running"),
        ("pid", 4242),
        ("bundle", "/srv/box"),
        ("annotations", {"org.example": "v"}),
    ]


@pytest.mark.parametrize("pid", [None, 0, 4242])
def test_stopped_state_has_no_pid(pid: int | None) -> None:
    assert "pid" not in replace(RUNNING, status=Status.STOPPED, pid=pid).to_dict()


@pytest.mark.parametrize("pid", [None, 0])
def test_unknown_pid_is_left_out(pid: int | None) -> None:
    assert "pid" not in replace(RUNNING, status=Status.CREATING, pid=pid).to_dict()


@pytest.mark.parametrize("annotations", [None, {}])
def test_no_annotations_key_without_annotations(annotations: dict[str, str] | None) -> None:
    assert "annotations" not in replace(RUNNING, annotations=annotations).to_dict()


def test_to_dict_copies_annotations() -> None:
    doc = RUNNING.to_dict()
    doc["annotations"]["x"] = "y"  # type: ignore[index]
    assert RUNNING.annotations == {"org.example": "v"}


def test_statuses() -> None:
    assert {Status.CREATING, Status.CREATED, Status.RUNNING, Status.STOPPED, Status.PAUSED} == {
        "creating",
        "created",
        "running",
        "stopped",
        "paused",
    }
    assert frozenset(STATUSES) == {"creating", "created", "running", "stopped", "paused"}


def test_state_is_frozen() -> None:
    with pytest.raises(AttributeError):
        RUNNING.status = Status.STOPPED  # type: ignore[misc]
