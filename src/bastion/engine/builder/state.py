"""The builder's records: `BuildOptions` (the flags), `BuildResult`, and `Stage`, a stage's
image while its steps run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bastion.engine.metadata import ImageRecord
    from bastion.images import Descriptor


@dataclass(frozen=True, kw_only=True)
class BuildOptions:
    """`bastion build`'s flags: the context directory, the Dockerfile (a path; relative ones
    are in the context), the names, `--build-arg`s, `--no-cache`, `--target`, `--label`s and
    the RUN steps' network (`host` or `none`)."""

    context: str
    dockerfile: str = "Dockerfile"
    tags: tuple[str, ...] = ()
    build_args: dict[str, str] = field(default_factory=dict)
    no_cache: bool = False
    target: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    network: str = "host"


@dataclass(frozen=True, kw_only=True)
class BuildResult:
    image_id: str
    names: tuple[str, ...]
    record: ImageRecord


@dataclass(kw_only=True)
class Stage:
    """A stage's image so far: its whole config document, its layers, its cache key, the id
    of its last kept step, and what the Dockerfile declared in it."""

    name: str | None
    config: dict[str, Any]
    layers: list[Descriptor]
    key: str
    image_id: str
    args: dict[str, str] = field(default_factory=dict)
    cmd_set: bool = False
    #: the manifest of the stage's image so far (None: `FROM scratch` before any step)
    manifest: Descriptor | None = None

    @property
    def conf(self) -> dict[str, Any]:
        conf: dict[str, Any] = self.config.setdefault("config", {})
        return conf

    @property
    def diff_ids(self) -> list[str]:
        return list(self.config.get("rootfs", {}).get("diff_ids") or [])

    def env(self) -> dict[str, str]:
        """What `$VAR` sees: the stage's args, then its ENV (which wins, as Docker)."""
        out = dict(self.args)
        for entry in self.conf.get("Env") or []:
            name, _, value = entry.partition("=")
            out[name] = value
        return out
