"""Which namespaces a container creates or joins, and joining them safely.

A namespace with a `path` is joined with setns(2) after checking the file really is a namespace
of that type (runtime-spec: "If a path is specified ... the runtime MUST ... error if the path is
not a namespace of the given type"); one without a path is created with unshare(2).
"""

from __future__ import annotations

import os

from bastion._record import record
from bastion._sys import ns as _ns
from bastion.oci.decode import SpecError
from bastion.oci.vocabulary import NAMESPACES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.oci.spec import Linux

# The /proc/<pid>/ns file of each OCI namespace type where the names differ.
_PROC_NAMES = {"network": "net", "mount": "mnt"}
# OCI namespace type -> (clone flag, /proc/<pid>/ns file name).
NAMESPACE_TYPES: dict[str, tuple[int, str]] = {
    kind: (flag, _PROC_NAMES.get(kind, kind)) for kind, flag in NAMESPACES.items()
}


@record
class NamespacePlan:
    """`new`: CLONE_* flags to unshare; `join`: (OCI type, path) pairs to setns into."""

    new: int
    join: tuple[tuple[str, str], ...]

    def has(self, ns_type: str) -> bool:
        flag = NAMESPACE_TYPES[ns_type][0]
        return bool(self.new & flag) or any(t == ns_type for t, _ in self.join)

    def creates(self, ns_type: str) -> bool:
        return bool(self.new & NAMESPACE_TYPES[ns_type][0])


def plan(linux: Linux | None) -> NamespacePlan:
    new = 0
    join: list[tuple[str, str]] = []
    for namespace in linux.namespaces if linux else ():
        if namespace.path:
            join.append((namespace.type, namespace.path))
        else:
            new |= NAMESPACE_TYPES[namespace.type][0]
    return NamespacePlan(new=new, join=tuple(join))


def check_paths(linux: Linux | None) -> None:
    """Check every namespace path names a namespace of its type, before `create` makes anything.

    The intermediate checks again when it opens them (a path can change in between); this early
    check is what gives a config error its JSON path and nothing to roll back.
    """
    for index, namespace in enumerate(linux.namespaces if linux else ()):
        if not namespace.path:
            continue
        where = f"linux.namespaces[{index}].path"
        try:
            fd = os.open(namespace.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise SpecError(
                f"cannot open {namespace.path}: {exc.strerror}",
                where=where,
                reference="namespace-path-invalid",
            ) from None
        try:
            _check_type(fd, namespace.type, namespace.path, where)
        finally:
            os.close(fd)


def _check_type(fd: int, ns_type: str, path: str, where: str) -> None:
    try:
        actual = _ns.nstype(fd, path)
    except OSError as exc:
        raise SpecError(
            f"{path} is not a namespace file ({exc.strerror})",
            where=where,
            reference="namespace-path-invalid",
        ) from None
    if actual != NAMESPACE_TYPES[ns_type][0]:
        names = {flag: name for name, (flag, _) in NAMESPACE_TYPES.items()}
        raise SpecError(
            f"{path} is a {names.get(actual, hex(actual))} namespace, not {ns_type}",
            where=where,
            reference="namespace-path-wrong-type",
            hint=f"point it at /proc/<pid>/ns/{NAMESPACE_TYPES[ns_type][1]}",
        )


def open_joined(plan: NamespacePlan) -> list[tuple[str, int]]:
    """Open every namespace to join and check its type, before any setns changes our view.

    Returns (type, fd) with the user namespace last: joining it first would drop the host
    privileges needed to join the others (they are owned by it or by an ancestor).
    """
    opened: list[tuple[str, int]] = []
    try:
        for ns_type, path in plan.join:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            opened.append((ns_type, fd))
            _check_type(fd, ns_type, path, f"linux.namespaces[type={ns_type}].path")
    except BaseException:
        for _, fd in opened:
            os.close(fd)
        raise
    opened.sort(key=lambda item: item[0] == "user")
    return opened


def join(opened: list[tuple[str, int]]) -> None:
    for ns_type, fd in opened:
        try:
            _ns.setns(fd, NAMESPACE_TYPES[ns_type][0])
        finally:
            os.close(fd)


def proc_path(pid: int, ns_type: str) -> str:
    return f"/proc/{pid}/ns/{NAMESPACE_TYPES[ns_type][1]}"
