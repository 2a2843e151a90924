"""Users and groups, per container: each container has its own /etc/passwd and /etc/group.

A container's files are read through its root (the runtime's rootfs, or
``/proc/<pid>/root`` of a process in it), the host's for host threads, once per container and
cached; a uid that is not in the file has no `User` (Falco then prints ``<NA>``).
"""

from __future__ import annotations

from collections.abc import Iterable

from bastion.sensor.state.model import HOST_CONTAINER, Container, Group, User


def parse_passwd(text: str) -> dict[int, User]:
    """``name:passwd:uid:gid:gecos:home:shell`` lines; malformed lines are skipped (as
    getpwent(3) does), the first entry for a uid wins."""
    users: dict[int, User] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 7 or not fields[0] or line.startswith("#"):
            continue
        try:
            uid, gid = int(fields[2]), int(fields[3])
        except ValueError:
            continue
        users.setdefault(
            uid, User(uid=uid, gid=gid, name=fields[0], home=fields[5], shell=fields[6])
        )
    return users


def parse_group(text: str) -> dict[int, Group]:
    """``name:passwd:gid:members`` lines; malformed lines are skipped."""
    groups: dict[int, Group] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 3 or not fields[0] or line.startswith("#"):
            continue
        try:
            gid = int(fields[2])
        except ValueError:
            continue
        groups.setdefault(gid, Group(gid=gid, name=fields[0]))
    return groups


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(4 << 20)  # an /etc/passwd beyond 4 MiB is not one we trust whole
    except OSError:
        return ""


class UserTable:
    """Users and groups by container id; `host_root` is where the host's /etc lives."""

    __slots__ = ("_groups", "_users", "host_root", "loads")

    def __init__(self, host_root: str = "/") -> None:
        self.host_root = host_root.rstrip("/")
        self._users: dict[str, dict[int, User]] = {}
        self._groups: dict[str, dict[int, Group]] = {}
        self.loads = 0

    def _root(self, container: Container) -> str | None:
        if container.kind == "host":
            return self.host_root
        return container.rootfs.rstrip("/") if container.rootfs else None

    def _load(self, container: Container) -> None:
        root = self._root(container)
        if root is None:  # no way into this container's files yet; try again next time
            return
        self.loads += 1
        self._users[container.id] = parse_passwd(_read(f"{root}/etc/passwd"))
        self._groups[container.id] = parse_group(_read(f"{root}/etc/group"))

    def user(self, uid: int | None, container: Container = HOST_CONTAINER) -> User | None:
        if uid is None:
            return None
        if container.id not in self._users:
            self._load(container)
        return self._users.get(container.id, {}).get(uid)

    def group(self, gid: int | None, container: Container = HOST_CONTAINER) -> Group | None:
        if gid is None:
            return None
        if container.id not in self._groups:
            self._load(container)
        return self._groups.get(container.id, {}).get(gid)

    def seed(
        self, users: Iterable[User], groups: Iterable[Group], container: Container = HOST_CONTAINER
    ) -> None:
        """Install known entries (a .scap file's user list) instead of reading files."""
        self._users[container.id] = {u.uid: u for u in users}
        self._groups[container.id] = {g.gid: g for g in groups}

    def add_user(self, user: User, container_id: str = HOST_CONTAINER.id) -> None:
        """One entry learnt from an event (a capture's ``useradded``)."""
        self._users.setdefault(container_id, {})[user.uid] = user

    def add_group(self, group: Group, container_id: str = HOST_CONTAINER.id) -> None:
        self._groups.setdefault(container_id, {})[group.gid] = group

    def forget(self, container_id: str) -> None:
        self._users.pop(container_id, None)
        self._groups.pop(container_id, None)

    def __len__(self) -> int:
        return len(self._users)
