"""`commit`: a container's changes as a new image, as `docker commit` makes it.

The new image is the container's image with one layer more (the container's overlay upper
directory, written as a changeset by images/commit.py, as the builder's RUN steps are), and a
config that is the container's own (its command, entrypoint, environment, working directory,
user, labels: what it was created with, which moby commits too), then the `changes`: Dockerfile
instructions that only touch the config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER,
VOLUME, WORKDIR, STOPSIGNAL), moby's list.

A running container is committed as it is (moby pauses it first; bastion does not yet): a file
being written while the layer is read may be caught half written.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bastion.engine.errors import InvalidOptionError

if TYPE_CHECKING:
    from bastion.engine.engine import Engine
    from bastion.engine.metadata import ImageRecord

# moby's daemon/commit.go accepts these in `--change`
CHANGE_INSTRUCTIONS = frozenset(
    {
        "CMD",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "LABEL",
        "ONBUILD",
        "USER",
        "VOLUME",
        "WORKDIR",
        "STOPSIGNAL",
    }
)
# what the container was made with that the image carries on
_CONTAINER_CONFIG = ("Cmd", "Entrypoint", "Env", "WorkingDir", "User", "Labels", "StopSignal")


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitOptions:
    reference: str | None = None  # repository[:tag]; None leaves the image untagged
    comment: str = ""
    author: str = ""
    changes: tuple[str, ...] = field(default_factory=tuple)


def apply_changes(config: dict[str, Any], changes: tuple[str, ...]) -> None:
    """Apply `changes` (one Dockerfile instruction each, or several on lines) to the image
    config document `config`; InvalidOptionError names one that is not allowed."""
    from bastion.engine.builder import dockerfile
    from bastion.engine.builder.config_steps import apply_to_config

    for change in changes:
        if not change.strip():
            continue
        parsed = dockerfile.parse(change, name="--change")
        for instruction in parsed.instructions:
            if instruction.keyword not in CHANGE_INSTRUCTIONS:
                raise InvalidOptionError(
                    f"{instruction.keyword} is not a valid change command",
                    where=f"--change {change!r}",
                    hint=f"use one of {', '.join(sorted(CHANGE_INSTRUCTIONS))}",
                )
            conf = config.setdefault("config", {})
            env = dict(e.partition("=")[::2] for e in conf.get("Env") or [])
            if instruction.keyword == "WORKDIR":
                path = dockerfile.expand_word(instruction.text, env, parsed.escape)
                conf["WorkingDir"] = os.path.join(conf.get("WorkingDir") or "/", path)
            else:
                apply_to_config(instruction, config, env, parsed.escape, "--change")


def commit(engine: Engine, name_or_id: str, options: CommitOptions) -> ImageRecord:
    """Make the image (see the module docstring), tag it `options.reference` (or name it by
    its id) and record it; its record."""
    from bastion.images import Reference
    from bastion.images.commit import layer_from_directory, now_rfc3339, write_image, write_layer

    record = engine.container(name_or_id)
    base = engine.layout.image(engine.image(record.image_id).name)
    config = json.loads(engine.layout.read_blob(base.manifest.config.digest))
    conf = config.setdefault("config", {})
    container_config = engine.inspect(record.id).get("Config") or {}
    for key in _CONTAINER_CONFIG:
        if container_config.get(key) not in (None, "", [], {}):
            conf[key] = container_config[key]
    apply_changes(config, options.changes)
    name = str(Reference.parse(options.reference)) if options.reference else None

    upper = os.path.join(engine._directory(record.id), "fs", "upper")
    layer = write_layer(engine.layout, lambda tar: layer_from_directory(upper, tar))
    engine.layers.ensure(engine.layout, layer, layer.digest)
    created = now_rfc3339()
    config["created"] = created
    if options.author:
        config["author"] = options.author
    entry: dict[str, Any] = {"created": created, "created_by": f"commit {record.name}"}
    if options.comment:
        entry["comment"] = options.comment
    if options.author:
        entry["author"] = options.author
    config["history"] = [*(config.get("history") or []), entry]
    rootfs = config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    rootfs["diff_ids"] = [*(rootfs.get("diff_ids") or []), layer.digest]
    descriptor, image_id = write_image(engine.layout, config, [*base.layers, layer])
    engine.layout.tag(name or image_id, descriptor)
    return engine._record_image(engine.layout.image(name or image_id), engine.layers)
