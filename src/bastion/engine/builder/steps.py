"""The classic builder (Docker's `DOCKER_BUILDKIT=0 docker build`): a Dockerfile's steps run one
after the other, each one's result an image of its own in the layout.

- A step that changes the filesystem (RUN, COPY, ADD, a WORKDIR that makes its directory) runs
  over an overlay of the image so far, mounted under `<root>/build/<id>/`; the overlay's upper
  directory becomes the step's layer (`images.commit`: OCI whiteouts for deletions). RUN runs
  through bastion-runc (`run_step`). Every other instruction changes the config only.
- The build cache: each step's result is kept in the layout, tagged
  `localhost/bastion-build-cache:<key>`, where the key chains the previous step's key, the
  instruction as substituted and its inputs (the digest of the COPY/ADD sources, the build
  args a RUN sees). Those tags are not images of the engine (`images` does not list them);
  `image prune -a` drops them. A hit adopts the kept image, so a build whose every step hits
  gives the same image id again.
- Nothing is named until the last step has succeeded: a failing step or a cancelled build
  leaves its earlier steps in the cache and no image, and its overlay and container are gone.
- Multi-stage builds: `FROM image AS name`, `COPY --from=name|index|image`, `--target`.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import shutil
from typing import TYPE_CHECKING, Any

from bastion.engine.builder import dockerfile
from bastion.engine.builder.config_steps import apply_to_config, command
from bastion.engine.builder.context import BuildContext, Source
from bastion.engine.builder.state import BuildOptions, BuildResult, Stage
from bastion.engine.builder.workspace import RUN_PREFIX, Workspace, sweep
from bastion.engine.errors import BuildStepError, DockerfileError

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Iterator

    from bastion.engine.builder.dockerfile import Instruction
    from bastion.engine.engine import Engine
    from bastion.images import Descriptor, LayerStore, Layout

CACHE_REPOSITORY = "localhost/bastion-build-cache"
#: The build args every build knows without an ARG (moby's BuiltinAllowedBuildArgs).
BUILTIN_ARGS = frozenset(
    [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "FTP_PROXY",
        "ftp_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
)
_NOP = "/bin/sh -c #(nop) "


class Builder:
    def __init__(
        self,
        engine: Engine,
        options: BuildOptions,
        say: Callable[[str], None],
        cancel: threading.Event | None,
    ) -> None:
        self.engine = engine
        self.options = options
        self.say = say
        self.cancel = cancel
        self.layout: Layout = engine.layout
        self.layers: LayerStore = engine.layers
        self.context = BuildContext(options.context)
        self.stages: list[Stage] = []
        self.consumed: set[str] = set()
        self.work = ""  # the workspace's path, while `run` runs

    # -- the whole build ----------------------------------------------------------------------

    def run(self) -> BuildResult:
        path = os.path.join(self.context.root, self.options.dockerfile)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as err:
            raise DockerfileError(
                f"cannot read the Dockerfile: {err.strerror}",
                where=path,
                hint="name it with -f (a path in the context, or an absolute one)",
            ) from None
        parsed = dockerfile.parse(text, name=self.options.dockerfile)
        self.escape = parsed.escape
        steps = self._select(list(parsed.instructions))
        sweep(self.engine.root, self.engine.runtime_root)  # what killed builds left
        workspace = Workspace(self.engine.root)
        self.work = workspace.path
        try:
            with self.layout.writing():  # garbage collection waits: nothing we add is lost
                stage = self._steps(steps)
                if self.options.labels:
                    labels = {**(stage.conf.get("Labels") or {}), **self.options.labels}
                    stage.conf["Labels"] = labels
                    self._commit(stage, "LABEL " + json.dumps(self.options.labels), None, True)
                return self._name(stage)
        finally:
            workspace.close()

    def _select(self, instructions: list[Instruction]) -> list[Instruction]:
        """The instructions up to the end of the `--target` stage."""
        target = self.options.target
        if target is None:
            return instructions
        for index, instruction in enumerate(instructions):
            if instruction.keyword != "FROM":
                continue
            words = instruction.text.split()
            if len(words) == 3 and words[1].upper() == "AS" and words[2].lower() == target.lower():
                end = next(
                    (
                        j
                        for j in range(index + 1, len(instructions))
                        if instructions[j].keyword == "FROM"
                    ),
                    len(instructions),
                )
                return instructions[:end]
        raise DockerfileError(
            f"failed to reach build target {target} in Dockerfile",
            hint="name a stage declared with FROM ... AS NAME",
        )

    def _steps(self, steps: list[Instruction]) -> Stage:
        meta: dict[str, str] = {}  # the ARGs before the first FROM
        stage: Stage | None = None
        total = len(steps)
        for number, instruction in enumerate(steps, start=1):
            if self.cancel is not None and self.cancel.is_set():
                raise BuildStepError("the build was cancelled", exit_code=130)
            self.say(f"Step {number}/{total} : {instruction.original}\n")
            if instruction.keyword == "FROM":
                stage = self._from(instruction, meta)
                self.stages.append(stage)
                self._triggers(stage, meta)
            elif stage is None:
                if instruction.keyword != "ARG":
                    raise DockerfileError(
                        f"{instruction.keyword} before the first FROM",
                        where=f"{self.options.dockerfile}:{instruction.line}",
                        hint="only ARG may come before FROM",
                    )
                meta.update(self._arg_pairs(instruction, meta, {}))
            else:
                self._step(stage, instruction, meta)
            if stage is not None:
                self.say(f" ---> {_short(stage.image_id)}\n")
        if stage is None:
            raise DockerfileError("the Dockerfile has no FROM", hint="start with FROM IMAGE")
        unused = sorted(set(self.options.build_args) - self.consumed - BUILTIN_ARGS)
        if unused:
            self.say(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        return stage

    def _triggers(self, stage: Stage, meta: dict[str, str]) -> None:
        """The base image's ONBUILD instructions, run right after its FROM as Docker does;
        the new image does not inherit them."""
        triggers = stage.conf.pop("OnBuild", None) or []
        if not triggers:
            return
        self.say(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
        for text in triggers:
            trigger = dockerfile.parse(str(text), name="ONBUILD").instructions[0]
            if trigger.keyword in ("FROM", "ONBUILD", "MAINTAINER"):
                raise DockerfileError(f"{trigger.keyword} is not allowed as an ONBUILD trigger")
            self._step(stage, trigger, meta)

    def _arg_pairs(
        self, instruction: Instruction, env: dict[str, str], meta: dict[str, str]
    ) -> dict[str, str]:
        """An ARG's names and values: the `--build-arg`, else its default, else (in a stage)
        the value the ARG of that name before the first FROM had; a name with none is not
        set."""
        out = {}
        pairs = dockerfile.key_values(instruction.text, env, self.escape, keyword="ARG")
        for name, default in pairs:
            if name in self.options.build_args:
                self.consumed.add(name)
                out[name] = self.options.build_args[name]
            elif default is not None:
                out[name] = default
            elif name in meta:
                out[name] = meta[name]
        return out

    # -- FROM ------------------------------------------------------------------------------

    def _from(self, instruction: Instruction, meta: dict[str, str]) -> Stage:
        words = dockerfile.expand_words(instruction.text, meta, self.escape)
        name = None
        if len(words) == 3 and words[1].upper() == "AS":
            name = words[2].lower()
        elif len(words) != 1:
            raise DockerfileError(
                f"FROM takes an image and an optional AS NAME, got {instruction.text!r}",
                where=f"{self.options.dockerfile}:{instruction.line}",
            )
        base = words[0]
        platform = instruction.flags.get("platform")
        if platform and dockerfile.expand_word(platform, meta, self.escape) != "linux/amd64":
            raise DockerfileError(
                f"FROM --platform={platform}: bastion builds linux/amd64 images only",
                where=f"{self.options.dockerfile}:{instruction.line}",
            )
        earlier = self._stage_named(base)
        manifest = None
        if earlier is not None:
            config, layers = copy.deepcopy(earlier.config), list(earlier.layers)
            image_id, manifest = earlier.image_id, earlier.manifest
        elif base == "scratch":
            config = {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Env": [_default_path()]},
                "rootfs": {"type": "layers", "diff_ids": []},
                "history": [],
            }
            layers, image_id = [], "scratch"
        else:
            config, layers, image_id = self._base_image(base)
            manifest = self.layout.resolve(self.engine.image(base).name)
        stage = Stage(
            name=name,
            config=config,
            layers=layers,
            key=_digest(f"FROM {image_id}"),
            image_id=image_id,
            manifest=manifest,
        )
        return stage

    def _stage_named(self, name: str) -> Stage | None:
        for index, stage in enumerate(self.stages):
            if stage.name == name.lower() or name == str(index):
                return stage
        return None

    def _base_image(self, reference: str) -> tuple[dict[str, Any], list[Descriptor], str]:
        from bastion.images import ImageNotFoundError

        try:
            record = self.engine.image(reference)
        except ImageNotFoundError:
            self.say(f"Pulling {reference}\n")
            record = self.engine.pull(reference)
        image = self.layout.image(record.name)
        self.layers.ensure_image(self.layout, image)
        config = json.loads(self.layout.read_blob(image.manifest.config.digest))
        return config, list(image.layers), record.image_id

    # -- one step ------------------------------------------------------------------------------

    def _step(self, stage: Stage, instruction: Instruction, meta: dict[str, str]) -> None:
        keyword = instruction.keyword
        env = stage.env()
        where = f"{self.options.dockerfile}:{instruction.line}"
        conf = stage.conf
        if keyword == "ARG":
            stage.args.update(self._arg_pairs(instruction, env, meta))
            self._config_step(stage, f"ARG {instruction.text}")
            return
        if keyword in ("RUN", "COPY", "ADD"):
            self._layer_step(stage, instruction, env, where)
            return
        if keyword == "WORKDIR":
            path = dockerfile.expand_word(instruction.text, env, self.escape)
            current = conf.get("WorkingDir") or "/"
            conf["WorkingDir"] = os.path.normpath(os.path.join(current, path))
            self._workdir_step(stage, conf["WorkingDir"])
            return
        text = instruction.text
        if keyword == "CMD":
            stage.cmd_set = True
        elif keyword == "ENTRYPOINT" and not stage.cmd_set:
            conf["Cmd"] = None  # the base image's CMD does not outlive a new ENTRYPOINT
        apply_to_config(instruction, stage.config, env, self.escape, where)
        self._config_step(stage, f"{keyword} {text}")

    # -- steps that change the config only --------------------------------------------------

    def _config_step(self, stage: Stage, summary: str) -> None:
        key = _key(stage, summary)
        if self._cached(stage, key):
            return
        self._commit(stage, summary, None, True, key=key)

    # -- steps that make a layer -----------------------------------------------------------

    def _layer_step(
        self, stage: Stage, instruction: Instruction, env: dict[str, str], where: str
    ) -> None:
        keyword = instruction.keyword
        if keyword == "RUN":
            argv = command(instruction, stage.conf)
            if not argv:
                raise DockerfileError("RUN needs a command", where=where)
            run_env = [
                f"{k}={v}" for k, v in sorted(stage.args.items()) if k not in _env_names(stage)
            ]
            key_text = f"RUN {json.dumps(argv)} {json.dumps(run_env)}"
            created_by = " ".join(argv) if instruction.json is None else json.dumps(argv)
            key = _key(stage, key_text)
            if self._cached(stage, key):
                return

            def run(root: str, lowers: list[str]) -> None:
                self._run(stage, root, lowers, argv, run_env)

            self._with_root(stage, key, created_by, run)
            return
        # COPY and ADD
        if instruction.json is not None:
            words = list(instruction.json)
        else:
            words = dockerfile.expand_words(instruction.text, env, self.escape)
        if len(words) < 2:
            raise DockerfileError(f"{keyword} requires at least two arguments", where=where)
        *names, destination = words
        workdir = stage.conf.get("WorkingDir") or "/"
        if not destination.startswith("/"):
            keep_slash = destination.endswith("/")
            destination = os.path.join(workdir, destination)
            if keep_slash and not destination.endswith("/"):
                destination += "/"
        for name in names:
            if "://" in name:
                raise BuildStepError(
                    f"{keyword} {name}: URLs are not supported",
                    where=where,
                    hint="download the file into the context first",
                )
        chown = instruction.flags.get("chown")
        from_stage = instruction.flags.get("from")
        with self._sources(from_stage, names, keyword) as (sources, digest):
            key_text = (
                f"{keyword} {json.dumps(instruction.flags, sort_keys=True)} {destination} {digest}"
            )
            key = _key(stage, key_text)
            created_by = f"{_NOP}{keyword} {digest[:19]}... in {destination} "
            if self._cached(stage, key):
                return

            def copy_in(root: str, lowers: list[str]) -> None:
                from bastion.engine.builder.rootfs_copy import copy_sources

                owner = self._owner(chown, lowers) if chown else None
                copy_sources(
                    root,
                    self.context if from_stage is None else None,
                    sources,
                    destination,
                    owner=owner,
                    unpack_archives=keyword == "ADD" and from_stage is None,
                )

            self._with_root(stage, key, created_by, copy_in)

    @contextlib.contextmanager
    def _sources(
        self, from_stage: str | None, names: list[str], keyword: str
    ) -> Iterator[tuple[list[Source], str]]:
        """The sources (in the context, or in a stage or image's root mounted read-only) and
        their digest."""
        if from_stage is None:
            sources = self.context.sources(names, keyword=keyword)
            yield sources, self.context.digest(sources)
            return
        from bastion.engine.builder.rootfs_copy import in_root
        from bastion.images import ContainerFilesystem

        earlier = self._stage_named(from_stage)
        if earlier is not None:
            layers, image_id = earlier.layers, earlier.image_id
            diff_ids = earlier.diff_ids
        else:
            config, layers, image_id = self._base_image(from_stage)
            diff_ids = list(config.get("rootfs", {}).get("diff_ids") or [])
        fs = ContainerFilesystem(os.path.join(self.work, "from-" + os.urandom(4).hex()))
        fs.mount(self._lowerdirs(layers, diff_ids), readonly=True)
        try:
            sources = []
            for name in names:
                path = in_root(fs.merged, name)
                if not os.path.lexists(path):
                    raise BuildStepError(
                        f"{keyword} --from={from_stage}: {name} not found in {from_stage}"
                    )
                sources.append(Source(path, os.path.isdir(path) and not os.path.islink(path)))
            yield sources, _digest(f"{image_id} {json.dumps(names)}")
        finally:
            fs.remove()

    def _owner(self, chown: str, lowers: list[str]) -> tuple[int, int]:
        from bastion.engine.container_files import read_in_layers
        from bastion.engine.spec import resolve_user

        passwd = read_in_layers(lowers, "etc/passwd")
        group = read_in_layers(lowers, "etc/group")
        uid, gid, _, _ = resolve_user(chown, passwd, group)
        return uid, gid

    def _workdir_step(self, stage: Stage, path: str) -> None:
        key = _key(stage, f"WORKDIR {path}")
        if self._cached(stage, key):
            return
        lowers = self._lowerdirs(stage.layers, stage.diff_ids)
        if _exists_in(lowers, path):
            self._commit(stage, f"WORKDIR {path}", None, True, key=key)
            return

        def make(root: str, _lowers: list[str]) -> None:
            from bastion.engine.builder.rootfs_copy import make_dirs

            make_dirs(root, path)

        self._with_root(stage, key, f"{_NOP}WORKDIR {path}", make)

    def _with_root(
        self,
        stage: Stage,
        key: str,
        created_by: str,
        work: Callable[[str, list[str]], None],
    ) -> None:
        """Mount the stage's image with a fresh upper directory, let `work` change it, and
        keep the upper directory as the step's layer."""
        from bastion.images import ContainerFilesystem
        from bastion.images.commit import layer_from_directory, write_layer

        directory = os.path.join(self.work, "step-" + os.urandom(4).hex())
        fs = ContainerFilesystem(os.path.join(directory, "fs"))
        lowers = self._lowerdirs(stage.layers, stage.diff_ids)
        if not lowers:  # FROM scratch: overlayfs wants one lower layer
            empty = os.path.join(directory, "empty")
            os.makedirs(empty)
            lowers = [empty]
        try:
            fs.mount(lowers)
            try:
                work(fs.merged, lowers)
            finally:
                fs.unmount()
            descriptor = write_layer(self.layout, lambda tar: layer_from_directory(fs.upper, tar))
        finally:
            with contextlib.suppress(Exception):
                fs.unmount(lazy=True)
            shutil.rmtree(directory, ignore_errors=True)
        self.layers.ensure(self.layout, descriptor, descriptor.digest)
        self._commit(stage, created_by, descriptor, False, key=key)

    def _run(
        self,
        stage: Stage,
        root: str,
        lowers: list[str],
        argv: list[str],
        run_env: list[str],
    ) -> None:
        from bastion.engine.builder.run_step import drop_mount_points, run_command
        from bastion.engine.container_files import read_in_layers
        from bastion.engine.spec import ImageFacts

        conf = stage.conf
        facts = ImageFacts(
            env=tuple(conf.get("Env") or ()),
            working_dir=conf.get("WorkingDir") or "",
            user=conf.get("User") or "",
            passwd=read_in_layers(lowers, "etc/passwd"),
            group=read_in_layers(lowers, "etc/group"),
        )
        bundle = os.path.join(self.work, RUN_PREFIX + os.urandom(16).hex())
        os.makedirs(bundle)
        container = os.path.basename(bundle)
        self.say(f" ---> Running in {container.removeprefix(RUN_PREFIX)[:12]}\n")
        try:
            run_command(
                self.engine,
                container_id=container,
                bundle=bundle,
                rootfs=root,
                facts=facts,
                argv=argv,
                env=run_env,
                network=self.options.network,
                say=self.say,
                cancel=self.cancel,
            )
        finally:
            drop_mount_points(root, lowers, bundle)
            shutil.rmtree(bundle, ignore_errors=True)
        self.say(f"Removing intermediate container {container.removeprefix(RUN_PREFIX)[:12]}\n")

    def _lowerdirs(self, layers: list[Descriptor], diff_ids: list[str]) -> list[str]:
        for blob, diff_id in zip(layers, diff_ids, strict=True):
            self.layers.ensure(self.layout, blob, diff_id)
        return [self.layers.path(d) for d in reversed(diff_ids)]

    # -- the cache and the results ---------------------------------------------------------

    def _cached(self, stage: Stage, key: str) -> bool:
        """Adopt the kept result of the step `key`, if there is one and the cache is on."""
        if self.options.no_cache:
            return False
        name = f"{CACHE_REPOSITORY}:{key.removeprefix('sha256:')}"
        descriptor = self.layout.names().get(name)
        if descriptor is None:
            return False
        try:
            image = self.layout.read_image(descriptor, name)
            config = json.loads(self.layout.read_blob(image.manifest.config.digest))
            self._lowerdirs(list(image.layers), list(image.config.diff_ids))
        except Exception:  # a kept step whose blobs went: build it again
            return False
        stage.config, stage.layers = config, list(image.layers)
        stage.key, stage.image_id = key, image.manifest.config.digest
        stage.manifest = descriptor
        self.say(" ---> Using cache\n")
        return True

    def _commit(
        self,
        stage: Stage,
        created_by: str,
        layer: Descriptor | None,
        empty: bool,
        *,
        key: str | None = None,
    ) -> None:
        """The stage's config (with a history entry, and `layer` on top) as an image, kept
        under the step's cache key."""
        from bastion.images.commit import now_rfc3339, write_image

        created = now_rfc3339()
        config = stage.config
        config["created"] = created
        entry: dict[str, Any] = {"created": created, "created_by": created_by}
        if empty:
            entry["empty_layer"] = True
        config["history"] = [*(config.get("history") or []), entry]
        if layer is not None:
            rootfs = config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
            rootfs["diff_ids"] = [*(rootfs.get("diff_ids") or []), layer.digest]
            stage.layers = [*stage.layers, layer]
        descriptor, image_id = write_image(self.layout, config, stage.layers)
        stage.key = key or _digest(f"{stage.key}\n{created_by}")
        stage.image_id, stage.manifest = image_id, descriptor
        self.layout.tag(f"{CACHE_REPOSITORY}:{stage.key.removeprefix('sha256:')}", descriptor)

    def _name(self, stage: Stage) -> BuildResult:
        """Tag the last step's image with every `-t` name (by its id without one), record it."""
        from bastion.images import Reference

        kept = stage.manifest  # a Dockerfile of one FROM: the base image itself, as Docker
        if kept is None:
            raise DockerfileError(
                "FROM scratch without a step makes no image", hint="add a COPY or ADD"
            )
        names = [str(Reference.parse(t)) for t in self.options.tags] or [stage.image_id]
        record = None
        for name in names:
            self.layout.tag(name, kept)
            record = self.engine._record_image(self.layout.image(name), self.layers)
        assert record is not None
        self.say(f"Successfully built {_short(stage.image_id)}\n")
        for tag in self.options.tags:
            shown = tag if ":" in tag.rsplit("/", 1)[-1] or "@" in tag else f"{tag}:latest"
            self.say(f"Successfully tagged {shown}\n")
        return BuildResult(image_id=stage.image_id, names=tuple(names), record=record)


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _key(stage: Stage, text: str) -> str:
    """A step's cache key: the previous step's, the step as substituted, the stage's build
    args (which change what a step does without showing in its text)."""
    return _digest(f"{stage.key}\n{text}\n{json.dumps(stage.args, sort_keys=True)}")


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _default_path() -> str:
    from bastion.engine.spec import DEFAULT_PATH

    return DEFAULT_PATH


def _env_names(stage: Stage) -> set[str]:
    return {e.partition("=")[0] for e in stage.conf.get("Env") or []}


def _exists_in(lowers: list[str], path: str) -> bool:
    relative = path.strip("/")
    return not relative or any(os.path.isdir(os.path.join(layer, relative)) for layer in lowers)
