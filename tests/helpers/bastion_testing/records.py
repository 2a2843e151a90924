"""An engine metadata record made by hand, for unit tests that need one without an engine."""

from __future__ import annotations

from typing import Any

from bastion.engine.metadata import ContainerRecord


def container_record(**fields: Any) -> ContainerRecord:
    """A created container with made-up values; `fields` sets any of the record's fields."""
    values: dict[str, Any] = {
        "id": "ab" * 32,
        "name": "web",
        "image": "busybox",
        "image_digest": "sha256:" + "0" * 64,
        "image_id": "sha256:" + "1" * 64,
        "created": 0.0,
        "status": "created",
        "exit_code": None,
        "oom_killed": False,
        "pid": 0,
        "started": None,
        "finished": None,
        "config": {},
    }
    values.update(fields)
    return ContainerRecord(**values)
