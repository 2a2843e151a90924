"""`-v`, `--mount` and `--tmpfs` as Docker parses them (docker/cli opts/mount.go, moby
volume/mounts/linux_parser.go): each becomes a `MountRequest`, checked before anything is made.

- `-v /dst`: an anonymous volume; `-v NAME:/dst[:MODE]`: a named volume (made on first use);
  `-v /src:/dst[:MODE]`: a bind mount of a host path that must exist (Docker would make it; we
  refuse, so a typo does not leave a new empty directory on the host). MODE is a comma list of
  `ro`, `rw`, `nocopy`, a propagation (`[r]private`, `[r]shared`, `[r]slave`), `z`/`Z` (SELinux
  relabelling, which this host has not: accepted and ignored, as on Docker without SELinux).
- `--mount type=bind|volume|tmpfs,source=...,target=...[,readonly][,volume-nocopy]
  [,bind-propagation=...][,tmpfs-size=...][,tmpfs-mode=...]`: the same mounts, spelled out;
  `type` defaults to volume, as Docker's.
- `--tmpfs /dst[:OPTIONS]`: a tmpfs with Docker's `noexec,nosuid,nodev` before the options.
- The image config's `Volumes` become anonymous volumes, except where a flag already mounts
  something at that destination. Two mounts at one destination are an error.
"""

from __future__ import annotations

import os

from bastion._record import record
from bastion.engine.errors import InvalidOptionError

BIND, VOLUME, TMPFS = "bind", "volume", "tmpfs"
PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
#: Docker's (moby volume/local): `[a-zA-Z0-9][a-zA-Z0-9_.-]+`
_NAME_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_REST = _NAME_FIRST | frozenset("_.-")
TMPFS_DEFAULTS = ("noexec", "nosuid", "nodev")


@record
class MountRequest:
    """One mount asked for. `source` is the host path (bind), the volume's name (volume; ""
    for an anonymous one, named when it is made) or "" (tmpfs); `options` are a tmpfs's mount
    options; `flag` is how it was asked for ("-v", "--mount", "--tmpfs", "image")."""

    type: str
    source: str
    target: str
    read_only: bool = False
    propagation: str = "rprivate"
    nocopy: bool = False
    options: tuple[str, ...] = ()
    flag: str = "-v"
    spec: str = ""


def valid_volume_name(name: str) -> bool:
    return len(name) >= 2 and name[0] in _NAME_FIRST and all(c in _NAME_REST for c in name)


def check_volume_name(name: str) -> None:
    if not valid_volume_name(name):
        raise InvalidOptionError(
            f"{name!r} includes invalid characters for a local volume name, only "
            "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
            hint="a host path to bind-mount must be absolute (start with /)",
        )


def _target(target: str, spec: str) -> str:
    if not target.startswith("/"):
        raise InvalidOptionError(
            f"invalid mount config for {spec!r}: the destination {target!r} must be an "
            "absolute path",
            hint="write the path inside the container from /",
        )
    cleaned = os.path.normpath(target)
    if cleaned == "/":
        raise InvalidOptionError(
            f"invalid mount config for {spec!r}: the destination cannot be '/'"
        )
    return cleaned


def _bind_source(source: str, spec: str) -> str:
    if not os.path.exists(source):
        raise InvalidOptionError(
            f"invalid mount config for {spec!r}: the bind source path {source!r} does not exist",
            hint="create it on the host first, or name a volume (without a leading /)",
        )
    return os.path.normpath(source)


def parse_volume(spec: str) -> MountRequest:
    """One `-v` value."""
    parts = spec.split(":")
    if len(parts) == 1:
        return MountRequest(type=VOLUME, source="", target=_target(parts[0], spec), spec=spec)
    if len(parts) > 3 or not parts[0]:
        raise InvalidOptionError(
            f"invalid volume specification {spec!r}", hint="use [SRC:]DST[:ro|rw]"
        )
    source, target = parts[0], _target(parts[1], spec)
    read_only, propagation, nocopy = False, "", False
    for mode in parts[2].split(",") if len(parts) == 3 else ():
        if mode in ("ro", "rw"):
            read_only = mode == "ro"
        elif mode in PROPAGATIONS:
            propagation = mode
        elif mode == "nocopy":
            nocopy = True
        elif mode not in ("z", "Z"):
            raise InvalidOptionError(
                f"invalid mode {mode!r} in the volume specification {spec!r}",
                hint="modes: ro, rw, nocopy, [r]private, [r]shared, [r]slave",
            )
    if source.startswith("/"):
        if nocopy:
            raise InvalidOptionError(f"invalid mode 'nocopy' for the bind mount {spec!r}")
        return MountRequest(
            type=BIND,
            source=_bind_source(source, spec),
            target=target,
            read_only=read_only,
            propagation=propagation or "rprivate",
            spec=spec,
        )
    check_volume_name(source)
    if propagation:
        raise InvalidOptionError(f"a propagation mode is for bind mounts only: {spec!r}")
    return MountRequest(
        type=VOLUME, source=source, target=target, read_only=read_only, nocopy=nocopy, spec=spec
    )


def parse_mount(spec: str) -> MountRequest:
    """One `--mount` value (CSV of key=value)."""
    fields: dict[str, str] = {}
    for item in spec.split(","):
        key, has_value, value = item.partition("=")
        key = key.strip().lower()
        if not key:
            continue
        if not has_value and key not in ("readonly", "ro", "volume-nocopy"):
            raise InvalidOptionError(f"invalid field {item!r} in --mount {spec!r}")
        fields[key] = value if has_value else "true"
    kind = fields.pop("type", VOLUME)
    source = fields.pop("source", fields.pop("src", ""))
    target = fields.pop("target", fields.pop("destination", fields.pop("dst", "")))
    if not target:
        raise InvalidOptionError(f"target is required in --mount {spec!r}")
    target = _target(target, spec)
    read_only = _boolean(fields.pop("readonly", fields.pop("ro", "false")), spec)
    if kind == BIND:
        if not source.startswith("/"):
            raise InvalidOptionError(f"the bind source must be an absolute path in {spec!r}")
        propagation = fields.pop("bind-propagation", "rprivate")
        if propagation not in PROPAGATIONS:
            raise InvalidOptionError(f"invalid bind-propagation {propagation!r} in {spec!r}")
        request = MountRequest(
            type=BIND,
            source=_bind_source(source, spec),
            target=target,
            read_only=read_only,
            propagation=propagation,
            flag="--mount",
            spec=spec,
        )
    elif kind == VOLUME:
        if source:
            check_volume_name(source)
        nocopy = _boolean(fields.pop("volume-nocopy", "false"), spec)
        request = MountRequest(
            type=VOLUME,
            source=source,
            target=target,
            read_only=read_only,
            nocopy=nocopy,
            flag="--mount",
            spec=spec,
        )
    elif kind == TMPFS:
        if source:
            raise InvalidOptionError(f"a tmpfs mount has no source: {spec!r}")
        options = list(TMPFS_DEFAULTS)
        if "tmpfs-size" in fields:
            options.append(f"size={fields.pop('tmpfs-size')}")
        if "tmpfs-mode" in fields:
            options.append(f"mode={fields.pop('tmpfs-mode')}")
        if read_only:
            options.append("ro")
        request = MountRequest(
            type=TMPFS,
            source="",
            target=target,
            read_only=read_only,
            options=tuple(options),
            flag="--mount",
            spec=spec,
        )
    else:
        raise InvalidOptionError(
            f"unknown mount type {kind!r} in --mount {spec!r}", hint="types: bind, volume, tmpfs"
        )
    if fields:
        raise InvalidOptionError(
            f"unexpected field(s) {', '.join(sorted(fields))} in --mount {spec!r}"
        )
    return request


def parse_tmpfs(spec: str) -> MountRequest:
    """One `--tmpfs` value: DST[:OPTIONS] (mount(8) tmpfs options, comma-separated)."""
    target, _, data = spec.partition(":")
    options = [*TMPFS_DEFAULTS, *(o for o in data.split(",") if o)]
    for option in options:
        key = option.split("=", 1)[0]
        if key not in _TMPFS_OPTIONS:
            raise InvalidOptionError(
                f"invalid tmpfs option {option!r} in --tmpfs {spec!r}",
                hint="e.g. --tmpfs /scratch:rw,size=64m,mode=1777",
            )
    return MountRequest(
        type=TMPFS,
        source="",
        target=_target(target, spec),
        read_only="ro" in options,
        options=tuple(options),
        flag="--tmpfs",
        spec=spec,
    )


# mount(8) flags Docker's MergeTmpfsOptions knows, and tmpfs(5)'s own options
_TMPFS_OPTIONS = frozenset(
    (
        *("ro", "rw", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "sync", "async"),
        *("atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime"),
        *("strictatime", "nostrictatime", "mand", "nomand", "dirsync", "tmpcopyup"),
        *PROPAGATIONS,
        *("size", "nr_blocks", "nr_inodes", "mode", "uid", "gid", "huge", "mpol"),
    )
)


def _boolean(value: str, spec: str) -> bool:
    lowered = value.lower()
    if lowered in ("", "1", "true"):
        return True
    if lowered in ("0", "false"):
        return False
    raise InvalidOptionError(f"invalid boolean {value!r} in --mount {spec!r}")


def requests(
    volumes: tuple[str, ...],
    mounts: tuple[str, ...],
    tmpfs: tuple[str, ...],
    image_volumes: tuple[str, ...] = (),
) -> list[MountRequest]:
    """Every mount of a container: the flags', then anonymous volumes for the image's `Volumes`
    not already covered; sorted so a parent is mounted before what is under it (Docker)."""
    out = [parse_volume(v) for v in volumes]
    out += [parse_mount(m) for m in mounts]
    out += [parse_tmpfs(t) for t in tmpfs]
    seen: set[str] = set()
    for request in out:
        if request.target in seen:
            raise InvalidOptionError(
                f"duplicate mount point: {request.target}", hint="mount one thing per destination"
            )
        seen.add(request.target)
    for path in image_volumes:
        target = os.path.normpath(path) if path.startswith("/") else ""
        if target and target != "/" and target not in seen:
            seen.add(target)
            out.append(MountRequest(type=VOLUME, source="", target=target, flag="image"))
    return sorted(out, key=lambda r: r.target.count("/"))
