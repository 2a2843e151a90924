"""`ContainerState`: the runtime's own record of one container, saved as `<root>/<id>/state.json`.

This is the one place that lists what state.json holds. `create` writes it (first while the
container is `creating`, again once the init exists and once it is `created`), `start` marks it
running, and everything else reads it: `Container` (state, start, kill, delete), `exec`, the
control verbs, and the engine through `load_state`. It is not the OCI state document: that one
(`oci_state` in container.py) is computed from this record and the kernel's truth.

The JSON key of each field is its name; `encode_state` writes every field, `decode_state`
checks every key's type against the field's annotation and names what is wrong, where, and what
to do about it. A key this version does not know is ignored (a newer bastion-runc may add some).
"""

from __future__ import annotations

from bastion import jsonio
from bastion._record import fields, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeAlias

    from bastion.runtime.errors import CorruptState

    #: The OCI state document (runtime-spec runtime.md "State") as JSON: ociVersion, id,
    #: status, pid, bundle, annotations (container.oci_state makes it). Hooks read it on stdin,
    #: a seccomp agent gets it with the notify fd.
    OciState: TypeAlias = dict[str, str | int | dict[str, str]]


@record
class ContainerState:
    """What bastion-runc keeps about one container between two calls (state.json)."""

    #: The container's id: the name of its state directory.
    id: str
    #: The status as last recorded: "creating", "created" or "running". The status a caller sees
    #: is computed from the kernel (is the init alive? is the cgroup frozen?), see `Container`.
    status: str
    #: The bundle's absolute path, as `create` was given it.
    bundle: str
    #: The rootfs's absolute path, symlinks resolved.
    rootfs: str
    #: The bastion-runc `create` process and its start time (a pid is never trusted alone): while
    #: "creating", a dead creator means the create was killed half way.
    creator_pid: int
    creator_start: int | None
    #: The absolute cgroup path (the same in every hierarchy).
    cgroup_path: str
    #: The cgroup existed before this create (it is then never removed by delete); None until
    #: `create` has looked.
    cgroup_preexisting: bool | None
    #: When `create` started, RFC 3339 with nanoseconds, as runc writes it.
    created: str
    #: runc's "owner" (always "" here, as runc's for a root-run container).
    owner: str
    #: config.json's annotations, reported in the OCI state document.
    annotations: dict[str, str]
    #: config.json has poststart / poststop hooks: start and delete decode the config only then.
    has_poststart: bool
    has_poststop: bool
    #: No mount namespace of its own: its mounts live in the host's, under the rootfs, until
    #: delete removes them.
    host_mounts: bool
    #: The init's host pid and start time; 0 and None until the init exists.
    pid: int = 0
    pid_start: int | None = None
    #: What the status, `start` and the `delete` of a stopped container read instead of asking
    #: the cgroup manager (which parses the mount table and loads a dozen modules): the file
    #: that says whether the cgroup is frozen ("" without a freezer) and the cgroup's directory
    #: in every hierarchy. None until the cgroup exists, and in a state.json written before they
    #: were: then the manager answers.
    freezer_file: str | None = None
    cgroup_dirs: list[str] | None = None
    #: Which of `cgroup_dirs` is in the cgroup2 hierarchy ("" on a host without one): with them,
    #: `exec` places its process with no manager (cgroups/attach.py's `Recorded`).
    cgroup2_dir: str | None = None


_STATE_FIELDS = fields(ContainerState)


def encode_state(state: ContainerState) -> bytes:
    """state.json's bytes: every field under its name."""
    return jsonio.dumps({name: getattr(state, name) for name in _STATE_FIELDS}).encode()


def decode_state(data: bytes, where: str) -> ContainerState:
    """The record in state.json's bytes `data` (read from `where`); `CorruptState` if they are
    not a JSON object of the right shape (cut short, edited by hand, written by something else)."""
    if not data:
        raise _corrupt("the file is empty", where)
    try:
        doc = jsonio.loads(data)
    except ValueError as exc:
        raise _corrupt(f"it is not valid JSON ({exc})", where) from None
    if type(doc) is not dict:
        raise _corrupt(f"expected a JSON object, found {_json_kind(doc)}", where)
    values: dict[str, Any] = {}
    annotations: dict[str, str] = ContainerState.__annotations__
    defaults: dict[str, object] = getattr(ContainerState, "__record_defaults__")  # noqa: B009
    for name in _STATE_FIELDS:
        if name not in doc:
            if name in defaults:
                continue
            raise _corrupt(f"the key {name!r} is missing", where)
        value = doc[name]
        kind = annotations[name]
        if not _is_kind(value, kind):
            raise _corrupt(
                f"the key {name!r} is {_json_kind(value)}, expected {kind}", f"{where}#{name}"
            )
        values[name] = value
    return ContainerState(**values)


def load_state(root: str, container_id: str) -> ContainerState:
    """The saved state of container `container_id` under runtime root `root` (no lock taken, no
    kernel check: `bastion.runtime.container.Container.load` gives the live status)."""
    from bastion.runtime import store

    return store.open_existing(root, container_id).read()


def _is_kind(value: object, kind: str) -> bool:
    # The annotations of ContainerState, as strings (they are never evaluated). bool is an int
    # to Python, not to JSON: it is told apart first.
    if value is None:
        return kind.endswith(" | None")
    base = kind.removesuffix(" | None")
    if base == "bool":
        return type(value) is bool
    if base == "int":
        return type(value) is int
    if base == "str":
        return type(value) is str
    if base == "list[str]":
        return type(value) is list and all(type(v) is str for v in value)
    if base == "dict[str, str]":
        return type(value) is dict and all(type(v) is str for v in value.values())
    raise AssertionError(f"ContainerState has a field of kind {kind!r} decode_state cannot check")


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "a boolean"
    if type(value) in (int, float):
        return f"the number {value}"
    if type(value) is str:
        return "a string"
    return "an array" if type(value) is list else "an object"


def _corrupt(what: str, where: str) -> CorruptState:
    # Imported here: the lean start and delete (lean.py) decode state.json with no error class.
    from bastion.runtime.errors import CorruptState

    return CorruptState(
        f"cannot read the container's state: {what}",
        where=where,
        hint="state.json is written only by bastion-runc; if it was damaged, "
        "`bastion-runc delete --force ID` removes the container's state directory",
    )
