"""The OCI state document (runtime.md "State", schema/state-schema.json).

This is what `bastion-runc state` prints and what hooks read on stdin. The runtime's own state
file (store.py) holds more; `State.to_dict()` produces only the standard document.
"""

from __future__ import annotations

from bastion._record import record


class Status:
    """Container statuses (runtime.md "State"), plain `str` constants (no `enum`: start-up cost).

    PAUSED is not in the runtime-spec; runc reports it for a frozen container and tools that
    drive runc (containerd, Podman) expect it, so we report it too.
    """

    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"
    PAUSED = "paused"


STATUSES: frozenset[str] = frozenset(
    {Status.CREATING, Status.CREATED, Status.RUNNING, Status.STOPPED, Status.PAUSED}
)


@record
class State:
    """One container's state as the runtime-spec defines it."""

    oci_version: str
    id: str
    status: str
    bundle: str
    pid: int | None = None
    annotations: dict[str, str] | None = None

    def to_dict(self) -> dict[str, object]:
        """The state document, valid against state-schema.json (keys in the spec's order).

        `pid` is REQUIRED while created or running (and paused) and left out once stopped, when
        there is no process; runc prints 0 there, which the schema also allows, but a pid that
        names nothing invites a caller to signal a recycled pid. `annotations` is left out when
        empty, as runc's `omitempty` does.
        """
        doc: dict[str, object] = {
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": self.status,
        }
        if self.pid and self.status != Status.STOPPED:
            doc["pid"] = self.pid
        doc["bundle"] = self.bundle
        if self.annotations:
            doc["annotations"] = dict(self.annotations)
        return doc
