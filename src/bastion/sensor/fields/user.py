"""``user.*`` and ``group.*``: who the thread runs as (libsinsp ``sinsp_filtercheck_user.cpp``
and ``sinsp_filtercheck_group.cpp``).

Names come from the user table of the thread's own container (its /etc/passwd), not the
host's: uid 1000 is a different person in each. ``user.loginuid`` is -1 when unset (the
kernel's ``(uid_t)-1``), as Falco prints it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bastion.sensor.fields.model import FieldDef, Getter, StateView, on_thread, or_missing
from bastion.sensor.rules.ops import MISSING

if TYPE_CHECKING:
    from bastion.sensor.events.model import Event
    from bastion.sensor.state.model import Group, Thread, User

UNSET_ID = 0xFFFFFFFF


def loginuid(t: Thread) -> int | None:
    """The audit login uid, -1 for "never logged in"."""
    uid = t.loginuid
    if uid is None:
        return None
    return -1 if uid in (UNSET_ID, -1) else uid


# What libsinsp's user filtercheck reads for a uid missing from the user table: root is
# known without one; anyone else is the literal string "<NA>" (a value, so that
# ``user.name != root`` still holds for an unknown user, as in Falco).
UNKNOWN_USER = "<NA>"


def _user(
    uid_of: Callable[[Thread], int | None],
    read: Callable[[User], object],
    root: str = UNKNOWN_USER,
) -> Callable[..., Getter]:
    def factory(state: StateView, arg: str | None) -> Getter:
        del arg

        def get(evt: Event) -> object:
            t = evt.thread
            if t is None:
                return MISSING
            uid = uid_of(t)
            user = None
            if uid is not None and 0 <= uid < UNSET_ID:
                user = state.users.user(uid, state.container_of(t))
            if user is not None:
                return read(user)
            return root if uid == 0 else UNKNOWN_USER

        return get

    return factory


def _group(read: Callable[[Group], object]) -> Callable[..., Getter]:
    def factory(state: StateView, arg: str | None) -> Getter:
        del arg

        def get(evt: Event) -> object:
            t = evt.thread
            gid = None if t is None else _gid(t)
            if t is None or gid is None:
                return MISSING
            group = state.users.group(gid, state.container_of(t))
            return MISSING if group is None else read(group)

        return get

    return factory


def _uid(t: Thread) -> int | None:
    # the driver's "uid" is the effective uid (the one permission checks use)
    return t.euid if t.euid is not None else t.uid


def _gid(t: Thread) -> int | None:
    return t.egid if t.egid is not None else t.gid


FIELDS: tuple[FieldDef, ...] = (
    FieldDef(
        "user.uid",
        "uint32",
        "Effective user id of the thread (4294967295 when unknown, as libsinsp's unset id).",
        on_thread(lambda t: UNSET_ID if _uid(t) is None else _uid(t)),
    ),
    FieldDef(
        "user.name",
        "string",
        "User name, from the thread's container's user table.",
        _user(_uid, lambda u: u.name, "root"),
    ),
    FieldDef(
        "user.homedir",
        "string",
        "Home directory of the user.",
        _user(_uid, lambda u: u.home, "/root"),
    ),
    FieldDef("user.shell", "string", "Login shell of the user.", _user(_uid, lambda u: u.shell)),
    FieldDef(
        "user.loginuid",
        "int64",
        "Audit login uid; -1 when the session never logged in.",
        on_thread(lambda t: or_missing(loginuid(t))),
    ),
    FieldDef(
        "user.loginname",
        "string",
        "User name of the login uid.",
        _user(loginuid, lambda u: u.name, "root"),
    ),
    FieldDef(
        "group.gid",
        "uint32",
        "Group id of the thread (4294967295 when unknown).",
        on_thread(lambda t: UNSET_ID if _gid(t) is None else _gid(t)),
    ),
    FieldDef(
        "group.name",
        "string",
        "Group name, from the thread's container's group table.",
        _group(lambda g: g.name),
    ),
)
