"""Events that describe the machine rather than a thread: container metadata, users, groups.

Newer captures carry the container engine's metadata (``container`` events with a JSON
document, written by libsinsp's container manager) and the user/group lists (``useradded``,
``groupadded``...) as events. libsinsp applies them to its tables with no thread attached; so
does this module, so that ``container.name``/``container.image`` and ``user.name`` of a replay
read what the capture recorded.

A ``container`` event describes its container to the rules too: like libsinsp, which adds the
container on this very event, the event gets a thread (tid -1, no process) in that container,
so ``evt.type=container and container.privileged=true`` (Falco's PSP-style rules) reads the id,
name, image, privileged flag and mounts the event carries.
"""

from __future__ import annotations

from bastion import jsonio
from bastion.sensor.events.model import Event
from bastion.sensor.state.model import HOST_CONTAINER, ContainerMount, Group, Thread, User
from bastion.sensor.state.tables import Tables

# libsinsp's sinsp_container_type, as the JSON "type" number carries it
_ENGINES = {0: "docker", 1: "lxc", 2: "libvirt-lxc", 3: "mesos", 5: "rkt", 7: "cri-o"}
_ENGINES.update({6: "cri", 8: "containerd", 9: "cri-o", 10: "bpm", 11: "static", 12: "podman"})


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def on_container(state: Tables, event: Event) -> None:
    """A ``container`` event: the engine's description of one container, by short id."""
    raw = event.params.get("json")
    if not isinstance(raw, str):
        return
    try:
        doc = jsonio.loads(raw)
    except ValueError:
        return  # a damaged record describes nothing; the container keeps what it had
    info = doc.get("container") if isinstance(doc, dict) else None
    if not isinstance(info, dict) or not _text(info.get("id")):
        return
    labels = info.get("labels")
    privileged = info.get("privileged")
    container = state.containers.describe(
        _text(info.get("id")),
        name=_text(info.get("name")),
        kind=_ENGINES.get(engine, "") if isinstance(engine := info.get("type"), int) else "",
        image=_text(info.get("image")),
        image_id=_text(info.get("imageid")),
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        privileged=privileged if isinstance(privileged, bool) else None,
        image_repo=_text(info.get("imagerepo")),
        image_tag=_text(info.get("imagetag")),
        image_digest=_text(info.get("imagedigest")),
        mounts=_mounts(info.get("Mounts")),
    )
    event.thread = Thread(tid=-1, pid=-1, comm="", container_id=container.id)


def _mounts(raw: object) -> tuple[ContainerMount, ...]:
    """Docker's ``Mounts`` entries (Source, Destination, Mode, RW, Propagation)."""
    if not isinstance(raw, list):
        return ()
    return tuple(
        ContainerMount(
            source=_text(m.get("Source")),
            dest=_text(m.get("Destination")),
            mode=_text(m.get("Mode")),
            rdwr=m.get("RW") is True,
            propagation=_text(m.get("Propagation")),
        )
        for m in raw
        if isinstance(m, dict)
    )


def _container_id(event: Event) -> str:
    cid = _text(event.params.get("container_id"))
    return cid if cid else HOST_CONTAINER.id


def on_user_added(state: Tables, event: Event) -> None:
    p = event.params
    uid, gid = p.get("uid"), p.get("gid")
    if not isinstance(uid, int) or not isinstance(gid, int):
        return
    user = User(
        uid=uid,
        gid=gid,
        name=_text(p.get("name")),
        home=_text(p.get("home")),
        shell=_text(p.get("shell")),
    )
    state.users.add_user(user, _container_id(event))


def on_group_added(state: Tables, event: Event) -> None:
    gid = event.params.get("gid")
    if isinstance(gid, int):
        state.users.add_group(
            Group(gid=gid, name=_text(event.params.get("name"))), _container_id(event)
        )
