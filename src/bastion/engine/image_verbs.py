"""The image verbs past `pull` and `rmi`, over an `Engine`'s layout, layer store and metadata:
`tag`, `load`, `save`, `import`, `push`, `image prune`, registry `login`/`logout`, and
Docker's `image inspect` document and `history` rows.

An image without a name (an `import` without a reference, an archive image without tags) is
kept under its id (`sha256:<config digest>`) in the layout and the metadata: Docker's `<none>`
image, which `image prune` removes. Every verb that adds an image unpacks its layers before it
records it, and a failure takes back the names it had added, so nothing half made is listed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bastion._record import replace
from bastion.engine.inspect import rfc3339

if TYPE_CHECKING:
    from collections.abc import Callable

    from bastion.engine.engine import Engine
    from bastion.engine.metadata import ImageRecord
    from bastion.images import Credentials, PullProgress

#: What `save --format` writes (Docker's and Podman's names).
ARCHIVE_FORMATS = ("docker-archive", "oci-archive")


def is_untagged(name: str) -> bool:
    """Whether an image name is its id: an image that has no name of its own."""
    return name.startswith("sha256:")


def tag(engine: Engine, source: str, target: str) -> ImageRecord:
    """Name the image `source` (a name or an id prefix) also `target`; an untagged image
    loses its id-name, as `docker tag` of a `<none>` image."""
    from bastion.images import Reference

    record = engine.image(source)
    name = str(Reference.parse(target))
    layout = engine.layout
    layout.tag(name, layout.resolve(record.name))
    new = replace(record, name=name, pulled=time.time())
    keep_replaced(engine, new)
    engine.metadata.put_image(new)
    if is_untagged(record.name) and record.name != name:
        _forget(engine, record.name)
    return new


def keep_replaced(engine: Engine, record: ImageRecord) -> None:
    """Before `record` takes its name: the image that had the name, if no other name keeps it,
    stays as an untagged image (named by its id), as Docker's `<none>` after a pull, load or
    tag moves a name, so `images` lists it and `image prune` reclaims it. Its manifest may
    already be gone (a concurrent garbage collection): then nothing is kept."""
    from bastion.images.documents import Descriptor, document_type

    images = engine.metadata.images()
    old = next((r for r in images if r.name == record.name), None)
    if old is None or old.image_id == record.image_id:
        return
    if any(r.image_id == old.image_id and r.name != old.name for r in images):
        return
    layout = engine.layout
    try:
        data = layout.read_blob(old.digest)
        descriptor = Descriptor(media_type=document_type(data), digest=old.digest, size=len(data))
        layout.tag(old.image_id, descriptor)
    except Exception:  # the old image is gone: nothing to keep
        return
    engine.metadata.put_image(replace(old, name=old.image_id))


def _forget(engine: Engine, name: str) -> None:
    with engine.metadata.write() as db:
        engine.metadata.delete_image(db, name)
    with contextlib.suppress(Exception):
        engine.layout.untag(name)


def load(engine: Engine, path: str, *, name: str | None = None) -> list[ImageRecord]:
    """Every image of the oci-archive or docker-archive at `path`, unpacked and recorded."""
    from bastion.images import load_archive

    layout = engine.layout
    before = set(layout.names())
    with layout.writing():  # garbage collection waits until the images are tagged
        names = load_archive(layout, path, name=name)
    return _record_new(engine, names, before)


def import_rootfs(
    engine: Engine, path: str, reference: str | None, *, config: dict[str, object] | None = None
) -> ImageRecord:
    """The root filesystem tar at `path` (plain, gzip, zstd) as a one-layer image named
    `reference` (untagged without one): `docker import`."""
    from bastion.images import import_rootfs as import_tar

    layout = engine.layout
    before = set(layout.names())
    with layout.writing():
        name = import_tar(layout, path, reference, config=config, comment="imported by bastion")
    (record,) = _record_new(engine, [name], before)
    return record


def _record_new(engine: Engine, names: list[str], before: set[str]) -> list[ImageRecord]:
    """Unpack and record the images `names` just tagged; on a failure (a layer that does not
    unpack), untag those that were not there `before` and take back their blobs."""
    layout, layers = engine.layout, engine.layers
    records = []
    try:
        for name in names:
            image = layout.image(name)
            layers.ensure_image(layout, image)
            records.append(engine._record_image(image, layers))
    except BaseException:
        known = {r.name for r in engine.metadata.images()}
        for name in names:
            if name not in before and name not in known:
                with contextlib.suppress(Exception):
                    layout.untag(name)
        with contextlib.suppress(Exception):
            layout.collect_garbage()
        raise
    return records


def save(engine: Engine, references: list[str], path: str, fmt: str = "docker-archive") -> None:
    """The images `references` into one archive at `path` (written whole, then renamed)."""
    from bastion.engine.errors import InvalidOptionError
    from bastion.images import save_docker_archive, save_oci_archive

    if fmt not in ARCHIVE_FORMATS:
        raise InvalidOptionError(
            f"unknown archive format {fmt!r}", hint=f"use one of {', '.join(ARCHIVE_FORMATS)}"
        )
    names = list(dict.fromkeys(engine.image(ref).name for ref in references))
    writer = save_docker_archive if fmt == "docker-archive" else save_oci_archive
    writer(engine.layout, names, path)


def push(
    engine: Engine,
    reference: str,
    destination: str | None = None,
    *,
    tls_verify: bool | None = None,
    progress: Callable[[PullProgress], None] | None = None,
    credentials: Credentials | None = None,
) -> str:
    """The local image `reference` to `destination` (default: its own name); the manifest
    digest the registry now holds."""
    from bastion.images import push as push_image

    record = engine.image(reference)
    return push_image(
        engine.layout,
        record.name,
        destination or record.name,
        credentials=credentials,
        tls_verify=tls_verify,
        progress=progress,
    )


def prune(engine: Engine, *, all: bool = False) -> list[str]:
    """Remove the untagged images (with `all`, every image, and the build cache) no container
    was made from, then the blobs and layers nothing uses any more; the names removed."""
    used = {c.image_id for c in engine.metadata.containers()}
    doomed = [
        r.name
        for r in engine.metadata.images()
        if r.image_id not in used and (all or is_untagged(r.name))
    ]
    layout = engine.layout
    with engine.metadata.write() as db:
        for name in doomed:
            engine.metadata.delete_image(db, name)
            with contextlib.suppress(Exception):
                layout.untag(name)
    if all:  # the build cache's steps too (engine/builder/), as Docker's `image prune -a`
        from bastion.engine.builder.steps import CACHE_REPOSITORY

        for name in layout.names():
            if name.startswith(CACHE_REPOSITORY + ":"):
                with contextlib.suppress(Exception):
                    layout.untag(name)
    layout.collect_garbage()
    in_use = {d for image in engine.metadata.images() for d in image.diff_ids}
    in_use |= {d for c in engine.metadata.containers() for d in c.config.get("diff_ids", ())}
    engine.layers.prune(in_use)
    return doomed


def login(registry: str, username: str, password: str, *, tls_verify: bool | None = None) -> str:
    """Check the credentials against `registry` (host[:port]), then record them in the
    primary auth file (Podman's); its path."""
    from bastion.images import Credentials, RegistryClient
    from bastion.images.auth import store_credentials

    host = _registry_host(registry)
    credentials = Credentials(username, password)
    with RegistryClient(host, credentials=credentials, tls_verify=tls_verify) as client:
        client.check_login()
    return store_credentials(host, credentials)


def logout(registry: str) -> str:
    """Drop the credentials for `registry` from the primary auth file; its path.
    `NotLoggedInError` when it holds none."""
    from bastion.images.auth import primary_auth_file, remove_credentials
    from bastion.images.errors import NotLoggedInError

    host = _registry_host(registry)
    path = primary_auth_file()
    if not remove_credentials(host, path):
        raise NotLoggedInError(
            f"not logged in to {host}", where=path, hint="nothing to do; `bastion login` first"
        )
    return path


def _registry_host(registry: str) -> str:
    """`https://host:port/v2/` or `host:port` as given to login: the host[:port]."""
    text = registry.strip()
    for scheme in ("https://", "http://"):
        text = text.removeprefix(scheme)
    return text.split("/", 1)[0]


# -- documents ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryRow:
    """One row of `history`, newest first: the image id on the top row only (`<missing>`
    below, as Docker), when and how it was made, the size of its layer (0 for an entry that
    made none)."""

    id: str
    created: str
    created_by: str
    size: int
    comment: str
    empty_layer: bool


def history(engine: Engine, reference: str) -> list[HistoryRow]:
    """The image's history from its config, a layer's size paired with each entry that made
    one; an image without history gets one row per layer."""
    from bastion.engine.engine import _tree_size

    record = engine.image(reference)
    image = engine.layout.image(record.name)
    layers = engine.layers
    sizes = [_tree_size(layers.path(d)) for d in image.config.diff_ids]
    rows: list[HistoryRow] = []
    layer = 0
    entries = image.config.history
    if not entries:
        empty = HistoryRow(id="", created="", created_by="", size=0, comment="", empty_layer=False)
        rows.extend(dataclasses.replace(empty, size=size) for size in sizes)
    for entry in entries:
        size = 0
        if not entry.empty_layer and layer < len(sizes):
            size = sizes[layer]
            layer += 1
        rows.append(
            HistoryRow(
                id="",
                created=entry.created or "",
                created_by=entry.created_by or "",
                size=size,
                comment=entry.comment or "",
                empty_layer=entry.empty_layer,
            )
        )
    rows.reverse()
    return [
        dataclasses.replace(row, id=record.image_id if i == 0 else "<missing>")
        for i, row in enumerate(rows)
    ]


def image_document(engine: Engine, reference: str) -> dict[str, Any]:
    """`docker image inspect`'s document (API ImageInspect) for what the engine has."""
    record = engine.image(reference)
    image = engine.layout.image(record.name)
    config = image.config
    names = [r for r in engine.metadata.images() if r.image_id == record.image_id]
    tagged = [r.name for r in names if not is_untagged(r.name)]
    digests = sorted({f"{_repository(r.name)}@{r.digest}" for r in names if r.name in tagged})
    comment = config.history[-1].comment if config.history else ""
    return {
        "Id": record.image_id,
        "RepoTags": tagged,
        "RepoDigests": digests,
        "Parent": "",
        "Comment": comment or "",
        "Created": config.created or "",
        "Config": {
            "User": config.user,
            "ExposedPorts": {p: {} for p in config.exposed_ports} or None,
            "Env": list(config.env),
            "Cmd": None if config.cmd is None else list(config.cmd),
            "Volumes": {v: {} for v in config.volumes} or None,
            "WorkingDir": config.working_dir,
            "Entrypoint": None if config.entrypoint is None else list(config.entrypoint),
            "Labels": dict(config.labels) or None,
            "StopSignal": config.stop_signal or "",
        },
        "Architecture": config.architecture,
        "Variant": config.variant or "",
        "Os": config.os,
        "Size": record.size,
        "RootFS": {"Type": "layers", "Layers": list(config.diff_ids)},
        "Metadata": {"LastTagTime": rfc3339(max(r.pulled for r in names))},
        "Descriptor": {
            "mediaType": image.descriptor.media_type,
            "digest": image.digest,
            "size": image.descriptor.size,
        },
    }


def _repository(name: str) -> str:
    base = name.partition("@")[0]
    repository, _, tag = base.rpartition(":")
    return base if "/" in tag or not repository else repository


def created_stamp(created: str, default: float = 0.0) -> float:
    """An image config's RFC 3339 `created` as a Unix time (`default` if it does not parse)."""
    try:
        return datetime.datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return default


#: The Dockerfile instructions `import --change` applies, and the config key each sets.
_CHANGES = {
    "CMD": "Cmd",
    "ENTRYPOINT": "Entrypoint",
    "ENV": "Env",
    "WORKDIR": "WorkingDir",
    "USER": "User",
    "LABEL": "Labels",
    "STOPSIGNAL": "StopSignal",
}


def config_changes(changes: list[str]) -> dict[str, object]:
    """`docker import --change` instructions as an image config's `config` object: CMD and
    ENTRYPOINT in JSON (exec) form or shell form (`/bin/sh -c ...`), `ENV K=V` (or `ENV K V`),
    `LABEL K=V`, WORKDIR, USER, STOPSIGNAL."""
    import json

    from bastion.engine.errors import InvalidOptionError

    config: dict[str, Any] = {}
    for change in changes:
        word, _, rest = change.strip().partition(" ")
        key = _CHANGES.get(word.upper())
        rest = rest.strip()
        if key is None or not rest:
            raise InvalidOptionError(
                f"cannot apply the change {change!r}",
                hint=f"write one of {', '.join(_CHANGES)} followed by its value",
            )
        if key in ("Cmd", "Entrypoint"):
            try:
                value = json.loads(rest) if rest.startswith("[") else ["/bin/sh", "-c", rest]
            except ValueError as err:
                raise InvalidOptionError(f"{word} {rest!r} is not a JSON array: {err}") from None
            config[key] = [str(v) for v in value]
        elif key == "Env":
            name, sep, val = rest.partition("=")
            if not sep:
                name, _, val = rest.partition(" ")
            env = [e for e in config.get("Env", []) if e.partition("=")[0] != name]
            config["Env"] = [*env, f"{name}={val.strip()}"]
        elif key == "Labels":
            name, _, val = rest.partition("=")
            config.setdefault("Labels", {})[name.strip('"')] = val.strip('"')
        else:
            config[key] = rest
    return config
