"""`Engine`: the Python API behind the `bastion` CLI (docs/engine.md).

Daemonless, as Podman: each call opens the metadata (SQLite, `metadata.py`) under the engine
root, and the state of a running container is whatever its monitor (conmon, `monitor.py`) and
the runtime say; `_sync` folds an ended container's status into its record, and releases its
runtime state and overlay, the first time any call looks at it.

The root holds `bastion.db`, `images/` (an OCI layout), `layers/` (the layer store) and
`containers/<id>/` (config.json, the overlay's upper/work/merged in `fs/`, the log, the
monitor's pid and exit files, the /etc files bind-mounted into the container).

One class past 500 lines (docs/conventions.md §2) because it is the API's whole surface; what
it calls lives beside it: `spec` (the merge), `monitor` (conmon), `metadata` (SQLite),
`container_files`, `inspect`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

from bastion import jsonio
from bastion._sys.tree import remove_tree

# image_verbs and operations load in the verbs that use them: not on run's path
from bastion.engine import monitor, repair
from bastion.engine.container_files import etc_files, read_in_layers, start_lock
from bastion.engine.errors import (
    ContainerStateError,
    ImageInUseError,
    InvalidOptionError,
    NoSuchContainerError,
)
from bastion.engine.host_config import inspect_fields
from bastion.engine.metadata import ContainerRecord, ImageRecord, Metadata
from bastion.engine.mount_flags import requests as mount_requests
from bastion.engine.spec import ContainerOptions, ImageFacts, build, command_parts, merge
from bastion.engine.volumes import (
    VolumeRecord,
    Volumes,
    inherited_mounts,
    parse_volumes_from,
)
from bastion.identity import DEFAULT_STATE_ROOT, LABEL_ANNOTATION_PREFIX
from bastion.runtime.store import write_atomic

TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Iterator
    from typing import IO, Any

    from bastion.audit import Report
    from bastion.engine import image_verbs, operations
    from bastion.engine.attach import Attachment
    from bastion.engine.builder import BuildOptions, BuildResult
    from bastion.engine.container_commit import CommitOptions
    from bastion.engine.container_update import ResourceUpdate
    from bastion.engine.events_log import EventLog
    from bastion.engine.exec import ExecConfig, ExecSession
    from bastion.engine.networks import Networks
    from bastion.engine.system import Pruned, PruneOptions
    from bastion.images import Credentials, Image, LayerStore, Layout, PullProgress
    from bastion.network.model import Naming, Network

DEFAULT_ROOT = "/var/lib/bastion"
DEFAULT_CGROUP_PARENT = "/bastion"
ROOT_ENV = "BASTION_ROOT"

CREATED, STARTING, RUNNING, EXITED = "created", "starting", "running", "exited"
#: ended, and its restart policy (engine/restart.py) restarts it: its exit command will
RESTARTING = "restarting"

_ADJECTIVES = ("brave", "calm", "eager", "keen", "quiet", "swift", "bold", "wise", "sharp", "kind")
_NAMES = ("turing", "hopper", "lovelace", "ritchie", "thompson", "knuth", "liskov", "hamilton")


def default_root() -> str:
    return os.environ.get(ROOT_ENV) or DEFAULT_ROOT


class Engine:
    """The engine over the root `root` (default `$BASTION_ROOT` or /var/lib/bastion).

    `runtime_root` is bastion-runc's state directory (where the sensor finds `identity.json`);
    `cgroup_parent` is the cgroup every container's cgroup is made under.
    """

    def __init__(
        self,
        root: str | None = None,
        *,
        runtime_root: str = DEFAULT_STATE_ROOT,
        cgroup_parent: str = DEFAULT_CGROUP_PARENT,
        runtime: str | None = None,
        naming: Naming | None = None,
    ) -> None:
        self.root = os.path.abspath(root or default_root())
        self.runtime_root = os.path.abspath(runtime_root)
        self.cgroup_parent = "/" + cgroup_parent.strip("/")
        self.runtime = runtime or os.path.join(os.path.dirname(sys.executable), "bastion-runc")
        os.makedirs(os.path.join(self.root, "containers"), mode=0o700, exist_ok=True)
        self.metadata = Metadata(os.path.join(self.root, "bastion.db"))
        # the networks' host names (bridges, veths, nft table); None: $BASTION_NETWORK_PREFIX,
        # else what this root was first used with, else bastion's (docs/network.md)
        self._naming = naming
        self._networks: Networks | None = None

    def close(self) -> None:
        self.metadata.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def event_log(self) -> EventLog:
        """What the verbs did, for `/events` and `system events` (events_log.py)."""
        from bastion.engine.events_log import EventLog

        return EventLog(self.root)

    @property
    def layout(self) -> Layout:
        from bastion.images import Layout

        return Layout(os.path.join(self.root, "images"))

    @property
    def layers(self) -> LayerStore:
        from bastion.images import LayerStore

        return LayerStore(os.path.join(self.root, "layers"))

    # --- images -----------------------------------------------------------------------------

    def pull(
        self,
        reference: str,
        *,
        tls_verify: bool | None = None,
        progress: Callable[[PullProgress], None] | None = None,
        credentials: Credentials | None = None,
        platform: str | None = None,
    ) -> ImageRecord:
        """Pull `reference` from its registry (its mirrors first), unpack its layers and record
        it; `credentials` (the API's X-Registry-Auth) before the auth files'; `platform`
        ("os/arch[/variant]", default linux/amd64) picks in an image index."""
        from bastion.images import Reference, pull
        from bastion.images.mirrors import configured
        from bastion.images.registry import DEFAULT_PLATFORM

        layers = self.layers
        ref = Reference.parse(reference)
        image = pull(
            ref,
            self.layout,
            layers=layers,
            tls_verify=tls_verify,
            progress=progress,
            credentials=credentials,
            mirrors=configured(self.root).get(ref.registry, ()),
            platform=platform or DEFAULT_PLATFORM,
        )
        pulled = self._record_image(image, layers)
        self.event_log.record("image", "pull", pulled.name, {"name": pulled.name})
        return pulled

    def _record_image(self, image: Image, layers: LayerStore) -> ImageRecord:
        from bastion.engine import image_verbs

        size = sum(_tree_size(layers.path(diff_id)) for diff_id in image.config.diff_ids)
        record = ImageRecord(
            name=image.name,
            digest=image.digest,
            image_id=image.manifest.config.digest,
            created=image.config.created or "",
            size=size,
            pulled=time.time(),
            diff_ids=image.config.diff_ids,
        )
        image_verbs.keep_replaced(self, record)  # the image that had the name: `<none>` now
        self.metadata.put_image(record)
        return record

    def images(self) -> list[ImageRecord]:
        return self.metadata.images()

    def image(self, reference: str) -> ImageRecord:
        """The image named `reference` (as `pull` normalises it), or whose id starts with it."""
        records = self.metadata.images()
        for record in records:  # a name as `pull` normalised it: no parse (the module's ~2 ms)
            if record.name == reference:
                return record
        from bastion.images import ImageNotFoundError, Reference

        with contextlib.suppress(Exception):
            name = str(Reference.parse(reference))
            for record in records:
                if record.name == name:
                    return record
        bare = reference.removeprefix("sha256:")
        if len(bare) >= 3:
            found = {r.image_id: r for r in records if r.image_id[7:].startswith(bare)}
            if len(found) == 1:
                return next(iter(found.values()))
        raise ImageNotFoundError(f"no such image: {reference}", reference="image-not-found")

    def remove_image(self, reference: str, *, force: bool = False) -> list[str]:
        """Untag the image; its blobs and layers go when nothing else needs them. Refused while
        a container was made from it and no other name keeps it, unless `force` (the container
        keeps its layers).
        Returns the names removed."""
        record = self.image(reference)
        users = [c.name for c in self.metadata.containers() if c.image_id == record.image_id]
        # another name keeps the image: removing this one only untags it (Docker's rmi)
        named = any(
            r.image_id == record.image_id and r.name != record.name for r in self.metadata.images()
        )
        if users and not force and not named:
            raise ImageInUseError(
                f"image {record.name} is used by the container(s) {', '.join(users)}",
                hint="remove them first, or use -f",
            )
        layout = self.layout
        with self.metadata.write() as db:
            self.metadata.delete_image(db, record.name)
            with contextlib.suppress(Exception):
                layout.untag(record.name)
        layout.collect_garbage()
        in_use = {d for image in self.metadata.images() for d in image.diff_ids}
        in_use |= {d for c in self.metadata.containers() for d in c.config.get("diff_ids", ())}
        self.layers.prune(in_use)
        self._log_image_removal(record, named=named)
        return [record.name]

    def _log_image_removal(self, record: ImageRecord, *, named: bool) -> None:
        """moby's events for a name removed: `untag` (not for an untagged image, named by
        its id), then `delete` when no other name keeps the image."""
        if record.name != record.image_id:
            self.event_log.record("image", "untag", record.image_id, {"name": record.name})
        if not named:
            self.event_log.record("image", "delete", record.image_id, {"name": record.name})

    # the image verbs past pull and rmi live in image_verbs.py; these are their faces

    def push(
        self,
        reference: str,
        destination: str | None = None,
        *,
        tls_verify: bool | None = None,
        progress: Callable[[PullProgress], None] | None = None,
        credentials: Credentials | None = None,
    ) -> str:
        """Push the image to `destination` (default: its name); the manifest digest."""
        from bastion.engine import image_verbs

        return image_verbs.push(
            self,
            reference,
            destination,
            tls_verify=tls_verify,
            progress=progress,
            credentials=credentials,
        )

    def tag(self, source: str, target: str) -> ImageRecord:
        from bastion.engine import image_verbs

        tagged = image_verbs.tag(self, source, target)
        self.event_log.record("image", "tag", tagged.image_id, {"name": tagged.name})
        return tagged

    def history(self, reference: str) -> list[image_verbs.HistoryRow]:
        from bastion.engine import image_verbs

        return image_verbs.history(self, reference)

    def inspect_image(self, reference: str) -> dict[str, Any]:
        """Docker's `image inspect` document."""
        from bastion.engine import image_verbs

        return image_verbs.image_document(self, reference)

    def save(self, references: list[str], path: str, fmt: str = "docker-archive") -> None:
        """The images into a docker-archive or oci-archive tar at `path`."""
        from bastion.engine import image_verbs

        image_verbs.save(self, references, path, fmt)

    def load(self, path: str, *, name: str | None = None) -> list[ImageRecord]:
        """Every image of a docker-archive or oci-archive tar, unpacked and recorded."""
        from bastion.engine import image_verbs

        loaded = image_verbs.load(self, path, name=name)
        for record in loaded:
            self.event_log.record("image", "load", record.image_id, {"name": record.name})
        return loaded

    def import_image(
        self, path: str, reference: str | None = None, *, config: dict[str, object] | None = None
    ) -> ImageRecord:
        """A root filesystem tar as a one-layer image (untagged without `reference`)."""
        from bastion.engine import image_verbs

        imported = image_verbs.import_rootfs(self, path, reference, config=config)
        self.event_log.record("image", "import", imported.image_id, {"name": imported.name})
        return imported

    def build(
        self,
        options: BuildOptions,
        *,
        say: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> BuildResult:
        """Build an image from a Dockerfile (engine/builder/): each step's output and Docker's
        `Step N/M` lines go to `say`; `cancel` stops the build between steps or kills its RUN
        step. Nothing is named unless every step succeeds."""
        from bastion.engine.builder import Builder

        return Builder(self, options, say or (lambda _text: None), cancel).run()

    @staticmethod
    def login(
        registry: str, username: str, password: str, *, tls_verify: bool | None = None
    ) -> str:
        """Check the credentials against the registry and record them (Podman's auth.json);
        the file's path."""
        from bastion.engine import image_verbs

        return image_verbs.login(registry, username, password, tls_verify=tls_verify)

    @staticmethod
    def logout(registry: str) -> str:
        from bastion.engine import image_verbs

        return image_verbs.logout(registry)

    def _image_for_run(self, reference: str) -> tuple[ImageRecord, Image]:
        from bastion.images import ImageNotFoundError

        try:
            record = self.image(reference)
        except ImageNotFoundError:
            record = self.pull(reference)
        return record, self.layout.image(record.name)

    # --- containers -------------------------------------------------------------------------

    def create(self, reference: str, options: ContainerOptions | None = None) -> ContainerRecord:
        """Make a container from the image `reference` (pulled if missing): its record and
        its config.json. Nothing runs until `start`."""
        from bastion.engine.restart import RestartPolicy

        options = options or ContainerOptions()
        policy = RestartPolicy.parse(options.restart)
        if policy.enabled and options.auto_remove:
            raise InvalidOptionError("conflicting options: --restart and --rm")
        record, image = self._image_for_run(reference)
        repair.stop_point("pulled")
        layers = self.layers
        layers.ensure_image(self.layout, image)
        lowerdirs = layers.lowerdirs(image)
        container_id = os.urandom(32).hex()  # secrets.token_hex's own source; `secrets` costs ~4 ms
        name = options.name or _random_name(container_id)
        config = image.config
        facts = ImageFacts(
            env=config.env,
            cmd=config.cmd,
            entrypoint=config.entrypoint,
            working_dir=config.working_dir,
            user=config.user,
            labels=dict(config.labels),
            passwd=read_in_layers(lowerdirs, "etc/passwd"),
            group=read_in_layers(lowerdirs, "etc/group"),
        )
        if options.stop_signal and not is_signal(options.stop_signal):
            raise InvalidOptionError(
                f"invalid stop signal {options.stop_signal!r}",
                hint="give a name (SIGINT) or a number",
            )
        process = merge(facts, options, container_id)
        entrypoint, cmd = command_parts(config.entrypoint, config.cmd, options)
        wanted_mounts = mount_requests(
            options.volumes, options.mounts, options.tmpfs, config.volumes
        )
        # resolved before anything is made: an unknown container or mode makes nothing
        inherit = [
            (self.container(name), read_only)
            for name, read_only in map(parse_volumes_from, options.volumes_from)
        ]
        network = self._plan_network(options, config.exposed_ports)
        labels = {**config.labels, **options.labels}
        directory = self._directory(container_id)
        saved = {
            "args": list(process.args),
            "env": list(process.env),
            "cwd": process.cwd,
            "user": options.user if options.user is not None else config.user,
            "hostname": process.hostname,
            "entrypoint": list(entrypoint),
            "cmd": list(cmd),
            "labels": labels,
            "memory": options.memory or 0,
            "pids_limit": options.pids_limit or 0,
            **network,
            "auto_remove": options.auto_remove,
            "detach": options.detach,
            "tty": options.tty,
            "interactive": options.interactive,
            "restart": policy.document(),
            "log_size_max": options.log_size_max or 0,
            "stop_signal": options.stop_signal or config.stop_signal or "SIGTERM",
            "diff_ids": list(config.diff_ids),
            "lowerdirs": lowerdirs,
            "host_config": inspect_fields(options),
        }
        if options.healthcheck or config.healthcheck:  # else nothing of health is imported
            from bastion.engine.health_config import merge as merge_healthcheck

            saved["healthcheck"] = merge_healthcheck(options.healthcheck, config.healthcheck)
        new = ContainerRecord(
            id=container_id,
            name=name,
            image=record.name,
            image_digest=record.digest,
            image_id=record.image_id,
            created=time.time(),
            status=CREATED,
            exit_code=None,
            oom_killed=False,
            pid=0,
            started=None,
            finished=None,
            config=saved,
        )
        os.makedirs(directory, mode=0o700)
        # held until the record is in: a directory without a record and without this lock is
        # what a killed create left (`repair`); the record goes in last, once config.json is
        lock = start_lock(directory, blocking=True)
        assert lock is not None
        made_volumes: list[str] = []
        try:
            mounts, made_volumes = self.volumes.prepare(wanted_mounts)
            for source, read_only in inherit:
                mounts += inherited_mounts(source, read_only, mounts)
            saved["mounts"] = mounts
            etc = etc_files(directory, process.hostname, options.network)
            annotations = {
                "bastion.name": name,
                "bastion.image": record.name,
                "bastion.image.digest": record.digest,
                **{f"{LABEL_ANNOTATION_PREFIX}{k}": v for k, v in labels.items()},
            }
            spec = build(
                process,
                options,
                rootfs=os.path.join(directory, "fs", "merged"),
                cgroup_path=f"{self.cgroup_parent}/{container_id}",
                annotations=annotations,
                etc_files=etc,
                host_mounts=mounts,
            )
            if network.get("networks"):  # joined, not made, by the runtime: `_network_step`
                for namespace in spec["linux"]["namespaces"]:
                    if namespace["type"] == "network":
                        namespace["path"] = self._net().netns_path(container_id)
            write_atomic(os.path.join(directory, "config.json"), jsonio.dumps(spec).encode())
            self.metadata.insert_container(new)
            # after the insert: a `volume rm` that ran before it removed a volume we use (we
            # fail and roll back); one that runs after it sees this container and refuses
            self.volumes.check_present(mounts)
        except BaseException:
            remove_tree(directory, ignore_errors=True)
            with contextlib.suppress(Exception):
                self.metadata.delete_container(container_id)
            self.volumes.discard(made_volumes)
            raise
        finally:
            os.close(lock)
        self.event_log.container(new, "create")
        return new

    def start(
        self,
        name_or_id: str,
        *,
        on_created: Callable[[ContainerRecord], None] | None = None,
    ) -> ContainerRecord:
        """Start a created container: mount its overlay, set up its network, start its monitor
        (which has the runtime create it), then start its process. `on_created` is called in
        between, when nothing has run yet: where `attach` connects so no output is missed.
        A start by the user resets the restart count and the "stopped by the user" mark."""
        record = self._sync(self.container(name_or_id))
        if record.status == RUNNING:
            raise ContainerStateError(f"container {record.name} is already running")
        if record.restart_count or record.stopped_by_user:
            self.metadata.update_container(record.id, restart_count=0, stopped_by_user=False)
        return self._start(record, on_created)

    def _start(
        self,
        record: ContainerRecord,
        on_created: Callable[[ContainerRecord], None] | None = None,
    ) -> ContainerRecord:
        from bastion.images import ContainerFilesystem
        from bastion.runtime.container import Container

        directory = self._directory(record.id)
        paths = monitor.MonitorPaths(directory)
        if record.status in (EXITED, RESTARTING):
            self._reset_for_restart(record, paths)
        rootfs = ContainerFilesystem(os.path.join(directory, "fs"))
        # "starting" under an flock: if this process dies half-way, the next look at the
        # container (`_sync`) gets the lock and knows nobody is finishing the start
        lock = start_lock(directory, blocking=True)
        assert lock is not None
        self.metadata.update_container(record.id, status=STARTING)
        try:
            if not rootfs.is_mounted():
                # a --rm container's changes go with it: no sync of the upper directory's
                # filesystem at the unmount (images/overlay.py), as Podman's --rm
                rootfs.mount(
                    record.config["lowerdirs"], volatile=bool(record.config.get("auto_remove"))
                )
            if record.started is None:  # Docker copies up at create; we, at the first start
                self.volumes.populate(record.config.get("mounts", []), rootfs.merged)
            repair.stop_point("mounted")
            self._network_step(record)
            pid = monitor.start(
                paths,
                container_id=record.id,
                name=record.name,
                runtime=self.runtime,
                runtime_root=self.runtime_root,
                exit_command=self._exit_command(record),
                terminal=bool(record.config.get("tty")),
                stdin=bool(record.config.get("interactive")),
                # `run -di`: stdin outlives each `attach`; a foreground `-i`'s ends with it
                leave_stdin_open=bool(record.config.get("detach")),
                log_size_max=record.config.get("log_size_max") or None,
                # a --rm container's log goes with it: no fsync of it at the exit
                sync_log=not record.config.get("auto_remove"),
            )
            repair.stop_point("created")
            if on_created is not None:
                on_created(self._get(record.id))
            Container.load(self.runtime_root, record.id).start()
            repair.stop_point("started")
            self.metadata.update_container(
                record.id, status=RUNNING, pid=pid, started=time.time(), exit_code=None
            )
            self.event_log.container(record, "start")
            if record.config.get("healthcheck"):  # its scheduler, beside the monitor
                from bastion.engine import health

                health.begin(self, record, paths, pid)
        except BaseException:
            self._release(record.id, rootfs)
            self.metadata.update_container(record.id, status=record.status)
            raise
        finally:
            os.close(lock)
        return self._get(record.id)

    def _exit_command(self, record: ContainerRecord) -> list[str] | None:
        """What conmon runs when a detached `--rm` container, or one with a restart policy,
        ends: `bastion cleanup ID` (Podman's `container cleanup`), which removes or restarts
        it. Nobody else is there to."""
        from bastion.engine.restart import RestartPolicy

        config = record.config
        # an attached `run -i/-t --rm` too: the user may detach (Ctrl-P Ctrl-Q), see `detached`
        attachable = config.get("detach") or config.get("tty") or config.get("interactive")
        removes = config.get("auto_remove") and attachable
        if not removes and not RestartPolicy.from_config(record.config.get("restart")).enabled:
            return None
        bastion = os.path.join(os.path.dirname(self.runtime), "bastion")
        return [
            *(bastion, "--root", self.root, "--runtime-root", self.runtime_root),
            *("--cgroup-parent", self.cgroup_parent, "cleanup", record.id),
        ]

    def cleanup(self, container_id: str) -> None:
        """After the container ended (the monitor's exit command): record its status, release
        its runtime state and overlay, and remove it if it was run with `--rm`, or restart it
        if its restart policy says so (after Docker's backoff)."""
        record = self._get(container_id)
        if record.config.get("auto_remove") and not record.config.get("detach"):
            return  # an attached `run --rm`: its CLI records and removes it, or `detached`
        # a container that ended while its `start` still held the lock: wait that out, or
        # `_sync` would leave it "starting" and nobody would restart or remove it
        with contextlib.suppress(FileNotFoundError):
            lock = start_lock(self._directory(record.id), blocking=True)
            assert lock is not None
            os.close(lock)
        record = self._sync(self._get(container_id))
        if record.status == RESTARTING:
            self._restart_by_policy(record)
        elif record.status == EXITED and record.config.get("auto_remove"):
            self.remove(record.id)

    def detached(self, name_or_id: str) -> None:
        """The attached caller of a `--rm` container left it running (the detach keys): from
        now on its monitor's exit command removes it when it ends (see `_exit_command`), and
        if it has already ended, it goes now."""
        import json

        record = self.container(name_or_id)
        if not record.config.get("auto_remove") or record.config.get("detach"):
            return
        self.metadata.update_container(
            record.id, config=json.dumps({**record.config, "detach": True})
        )
        if self._sync(self._get(record.id)).status == EXITED:
            with contextlib.suppress(NoSuchContainerError):
                self.remove(record.id)

    def _restart_by_policy(self, record: ContainerRecord) -> None:
        from bastion.engine.restart import backoff

        ran_for = (record.finished or 0) - (record.started or 0)
        time.sleep(backoff(record.restart_count, ran_for))
        current = self.metadata.container(record.id)
        # removed, started or stopped by the user meanwhile: theirs is the last word
        if current is None or current.status != RESTARTING or current.stopped_by_user:
            return
        self.metadata.update_container(record.id, restart_count=current.restart_count + 1)
        try:
            self._start(current)
        except BaseException:
            self.metadata.update_container(record.id, status=EXITED)
            raise

    def restart(self, name_or_id: str, timeout: float = 10) -> ContainerRecord:
        """`stop` (if it runs) then `start`, as `docker restart -t`."""
        record = self.stop(name_or_id, timeout=timeout)
        started = self.start(record.id)
        self.event_log.container(started, "restart")
        return started

    def attach(self, name_or_id: str) -> Attachment:
        """A connection to the running container's monitor (engine/attach.py): its output
        from now on, its stdin when it was made with `interactive`, its terminal's size."""
        from bastion.engine.attach import Attachment

        record = self._sync(self.container(name_or_id))
        if record.status not in (RUNNING, STARTING):
            raise ContainerStateError(
                f"cannot attach to container {record.name}: it is not running",
                hint="start it first (bastion start -a)",
            )
        return Attachment.connect(self._directory(record.id))

    def resize(self, name_or_id: str, rows: int, cols: int) -> None:
        """Resize the running container's terminal (its monitor's; a no-op without one)."""
        from bastion.engine.attach import resize

        resize(self._directory(self.container(name_or_id).id), rows, cols)

    def exec(self, name_or_id: str, config: ExecConfig) -> ExecSession:
        """Run a process in the running container (engine/exec.py); the session gives its pid,
        its pty master with a terminal, and `wait()` for its status."""
        from bastion.engine.exec import exec_in

        record = self._sync(self.container(name_or_id))
        if record.status != RUNNING:
            raise ContainerStateError(f"container {record.name} is not running")
        return exec_in(record, self._directory(record.id), self.runtime_root, config)

    def _network_step(self, record: ContainerRecord) -> None:
        """Where the network is set up, between the overlay and the runtime's create: with
        `none` the runtime makes an empty network namespace (loopback only), with `host`
        none at all; on a network, the engine makes and wires the namespace the runtime
        joins (`networks.Networks.setup`); `container:ID` joins that container's."""
        mode = record.config.get("network", "none")
        if mode in ("none", "host"):
            return
        if mode.startswith("container:"):
            self._join_network_of(record, mode.split(":", 1)[1])
            return
        self._net().setup(record, self._directory(record.id))

    def _join_network_of(self, record: ContainerRecord, target_id: str) -> None:
        target = self._sync(self._get(target_id))
        if target.status != RUNNING:
            raise ContainerStateError(
                f"cannot join the network of container {target.name}: it is not running",
                hint="start it first",
            )
        if target.config.get("network") == "host":
            path = None
        elif os.path.exists(self._net().netns_path(target.id)):
            path = self._net().netns_path(target.id)
        else:
            path = f"/proc/{target.pid}/ns/net"
        # its /etc/hosts and resolv.conf too, as Docker shares them
        for name in ("hosts", "resolv.conf"):
            with (
                contextlib.suppress(OSError),
                open(os.path.join(self._directory(target.id), name), "rb") as source,
            ):
                write_atomic(os.path.join(self._directory(record.id), name), source.read(), 0o644)
        config_path = os.path.join(self._directory(record.id), "config.json")
        with open(config_path, "rb") as f:
            spec = jsonio.loads(f.read())
        namespaces = [ns for ns in spec["linux"]["namespaces"] if ns["type"] != "network"]
        if path is not None:
            namespaces.append({"type": "network", "path": path})
        spec["linux"]["namespaces"] = namespaces
        write_atomic(config_path, jsonio.dumps(spec).encode())

    def _reset_for_restart(self, record: ContainerRecord, paths: monitor.MonitorPaths) -> None:
        for path in (paths.exit_file(record.id), paths.conmon_pid, paths.pid_file):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def run(
        self,
        reference: str,
        options: ContainerOptions | None = None,
        *,
        on_created: Callable[[ContainerRecord], None] | None = None,
    ) -> ContainerRecord:
        """`create` then `start`; the caller follows `logs(..., follow=True)` and `wait`s for
        a foreground run, or attaches in `on_created` (see `start`)."""
        record = self.create(reference, options)
        try:
            return self.start(record.id, on_created=on_created)
        except BaseException:
            self.remove(record.id, force=True)
            raise

    def wait(self, name_or_id: str, timeout: float | None = None) -> int:
        """Wait for the container to end; its exit status (Docker's: 128+N for a signal)."""
        record = self.container(name_or_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            record = self._sync(self._get(record.id))
            if record.status in (EXITED, RESTARTING):
                return record.exit_code if record.exit_code is not None else 255
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise ContainerStateError(f"container {record.name} has not ended")
            if record.status == RUNNING:
                monitor.wait(monitor.MonitorPaths(self._directory(record.id)), left)
            else:
                time.sleep(0.1)  # created or starting: as `docker wait`, until it has run

    def logs(
        self,
        name_or_id: str,
        *,
        tail: int | None = None,
        follow: bool = False,
        since: float | None = None,
        until: float | None = None,
    ) -> Iterator[monitor.LogLine]:
        """The container's log lines; `since`/`until` (Unix times) bound them as `docker logs`
        does (a line at `since` is in, one at `until` is out)."""
        record = self.container(name_or_id)
        paths = monitor.MonitorPaths(self._directory(record.id))
        lines = monitor.read_log(paths, tail=tail, follow=follow and record.status == RUNNING)
        if since is None and until is None:
            return lines
        from bastion.engine.operations import between

        return between(lines, since, until)

    def kill(self, name_or_id: str, sig: int = signal.SIGKILL) -> None:
        from bastion.engine.restart import RestartPolicy
        from bastion.runtime.container import Container

        record = self._sync(self.container(name_or_id))
        if record.status != RUNNING:
            raise ContainerStateError(f"container {record.name} is not running")
        # Docker: what the user stops, no restart policy starts again (`_sync` reads it);
        # without a policy the mark means nothing: no write on `rm -f`'s path
        if RestartPolicy.from_config(record.config.get("restart")).enabled:
            self.metadata.update_container(record.id, stopped_by_user=True)
        Container.load(self.runtime_root, record.id).kill(sig)
        self.event_log.container(record, "kill", signal=str(int(sig)))

    def stop(self, name_or_id: str, timeout: float = 10) -> ContainerRecord:
        """The stop signal (the image's StopSignal, else SIGTERM), then SIGKILL after
        `timeout` seconds, as `docker stop -t`."""
        record = self._sync(self.container(name_or_id))
        if record.status == RESTARTING:  # waiting out its backoff: it stays down
            self.metadata.update_container(record.id, status=EXITED, stopped_by_user=True)
        if record.status == RUNNING:
            paths = monitor.MonitorPaths(self._directory(record.id))
            sig = signal_number(record.config.get("stop_signal", "SIGTERM"))
            with contextlib.suppress(Exception):
                self.kill(record.id, sig)
            if not monitor.wait(paths, timeout):
                with contextlib.suppress(Exception):
                    self.kill(record.id, signal.SIGKILL)
                monitor.wait(paths, 10)
            with contextlib.suppress(NoSuchContainerError):  # its exit first: the die event
                self._sync(self._get(record.id))
            self.event_log.container(record, "stop")
        try:
            return self._sync(self._get(record.id))
        except NoSuchContainerError:
            # a detached `--rm` container: its monitor removed it on the way out, which is
            # what stopping it asked for (docker stop answers success)
            from bastion._record import replace

            return replace(record, status=EXITED)

    def remove(self, name_or_id: str, *, force: bool = False, volumes: bool = False) -> str:
        """Remove a container that is not running (with `force`, kill it first); returns
        its id. Its anonymous volumes go too with `volumes` (`rm -v`) or `--rm`, as Docker."""
        record = self._sync(self.container(name_or_id))
        if record.status == STARTING:  # `_sync` saw its `start` alive, holding the lock
            raise ContainerStateError(
                f"container {record.name} is being started", hint="try again when it runs"
            )
        if record.status == RUNNING:
            if not force:
                raise ContainerStateError(
                    f"container {record.name} is running", hint="stop it first or use -f"
                )
            with contextlib.suppress(Exception):
                self.kill(record.id, signal.SIGKILL)
            monitor.wait(monitor.MonitorPaths(self._directory(record.id)), 10)
            with contextlib.suppress(NoSuchContainerError):  # its exit first: the die event
                self._sync(self._get(record.id))
        from bastion.images import ContainerFilesystem

        directory = self._directory(record.id)
        # under the start lock: the monitor's `cleanup` may be recording the exit right now
        try:
            lock = start_lock(directory, blocking=True)
        except FileNotFoundError:
            lock = None  # its directory is gone already (a `repair`ed half-made container)
        try:
            self._release(record.id, ContainerFilesystem(os.path.join(directory, "fs")))
            remove_tree(directory, ignore_errors=True)
            self.metadata.delete_container(record.id)
        finally:
            if lock is not None:
                os.close(lock)
        self.event_log.container(record, "destroy")
        if volumes or record.config.get("auto_remove"):
            self.volumes.remove_anonymous(record)
        return record.id

    def containers(self, *, all: bool = False) -> list[ContainerRecord]:
        records = []
        for record in self.metadata.containers():
            with contextlib.suppress(NoSuchContainerError):  # removed while we looked
                records.append(self._sync(record))
        return records if all else [r for r in records if r.status == RUNNING]

    def container(self, name_or_id: str) -> ContainerRecord:
        """The container with this name, id or unique id prefix (by the metadata's indexes:
        every verb starts here, and an engine may hold many containers)."""
        record = self.metadata.container_named(name_or_id)
        if record is not None:
            return record
        matches = self.metadata.containers_with_id_prefix(name_or_id)
        if len(matches) == 1:
            return matches[0]
        what = "more than one container" if matches else "no such container"
        raise NoSuchContainerError(f"{what}: {name_or_id}")

    def inspect(self, name_or_id: str) -> dict[str, Any]:
        from bastion.engine import operations
        from bastion.engine.inspect import container_document

        record = self._sync(self.container(name_or_id))
        document = container_document(record, self._directory(record.id))
        if operations.is_paused(self.runtime_root, record):  # the freezer's word, not the record's
            document["State"].update(Status="paused", Paused=True)
        # bastion's own: what the sensor saw it do (the engine's alert store), latest last
        document["BastionAlerts"] = self.alerts(record.id)
        settings = self.network_settings(record)
        if settings is not None:
            document["NetworkSettings"] = settings
        if record.config.get("healthcheck"):
            from bastion.engine import health

            document["Config"]["Healthcheck"] = record.config["healthcheck"]
            state = health.document(self.metadata, record)
            if state is not None:
                document["State"]["Health"] = state
        return document

    def healthcheck_run(self, name_or_id: str) -> tuple[str, int]:
        """Run the container's health check once and record it (engine/health.py): the
        health status now and the check's exit code."""
        from bastion.engine import health

        return health.run_once(self, self._sync(self.container(name_or_id)))

    def health_statuses(self, records: list[ContainerRecord]) -> dict[str, str]:
        """The health status `ps` shows of each of `records` that has a check, by id."""
        if not any(r.config.get("healthcheck") for r in records):
            return {}
        from bastion.engine import health

        recorded = health.statuses(self.metadata)
        shown = {r.id: health.shown_status(r, recorded.get(r.id)) for r in records}
        return {key: value for key, value in shown.items() if value is not None}

    def network_settings(self, record: ContainerRecord) -> dict[str, Any] | None:
        """Docker's `NetworkSettings` of a container attached to networks (its address on each,
        published ports); None for one on `none`, `host` or another's namespace."""
        if not record.config.get("networks"):
            return None
        from bastion.engine.networks import network_settings

        net = self._net()
        return network_settings(
            record.config,
            {n.id: n for n in net.all()},
            net.leases(record.id),
            net.netns_path(record.id),
        )

    # --- more container verbs (operations.py, copy.py) ---------------------------------------

    def stats(self, name_or_id: str) -> operations.ContainerStats:
        """One sample of the running container's counters (CPU time, memory, pids)."""
        from bastion.engine import operations

        return operations.sample(self.runtime_root, self._sync(self.container(name_or_id)))

    def top(self, name_or_id: str) -> list[int]:
        """The host pids of the running container's processes."""
        from bastion.engine import operations

        return operations.processes(self.runtime_root, self._sync(self.container(name_or_id)))

    def pause(self, name_or_id: str) -> None:
        from bastion.engine import operations

        record = self._sync(self.container(name_or_id))
        operations.pause(self.runtime_root, record)
        self.event_log.container(record, "pause")

    def unpause(self, name_or_id: str) -> None:
        from bastion.engine import operations

        record = self._sync(self.container(name_or_id))
        operations.unpause(self.runtime_root, record)
        self.event_log.container(record, "unpause")

    def paused(self, name_or_id: str) -> bool:
        from bastion.engine import operations

        return operations.is_paused(self.runtime_root, self._sync(self.container(name_or_id)))

    def rename(self, name_or_id: str, new_name: str) -> ContainerRecord:
        """Give the container another name (unique, as at create); a running one's identity
        record follows, so the sensor names it by its new name."""
        from bastion.engine import operations

        operations.check_name(new_name)
        record = self.container(name_or_id)
        self.metadata.rename_container(record.id, new_name)
        operations.rename_files(self._directory(record.id), self.runtime_root, record, new_name)
        renamed = self._get(record.id)
        self.event_log.container(renamed, "rename", oldName="/" + record.name)  # moby's slash
        return renamed

    def commit(self, name_or_id: str, options: CommitOptions) -> ImageRecord:
        """The container's changes as a new image (container_commit.py)."""
        from bastion.engine.container_commit import commit

        return commit(self, name_or_id, options)

    def changes(self, name_or_id: str) -> list[tuple[str, int]]:
        """What the container changed in its image's files (changes.py: `diff`)."""
        from bastion.engine.changes import changes

        record = self.container(name_or_id)
        upper = os.path.join(self._directory(record.id), "fs", "upper")
        return changes(upper, record.config.get("lowerdirs", []))

    def ports(self, name_or_id: str) -> list[operations.PublishedPort]:
        """The published ports the network step recorded (config `ports`)."""
        from bastion.engine import operations

        return operations.published_ports(self.container(name_or_id))

    def copy_from(
        self, name_or_id: str, source: str, destination: str, *, follow: bool = False
    ) -> None:
        """`cp CONTAINER:SOURCE DESTINATION`: see copy.py."""
        from bastion.engine.copy import copy_out

        with self._container_root(name_or_id) as root:
            copy_out(root, source, destination, follow=follow)

    def copy_to(
        self, name_or_id: str, source: str, destination: str, *, owners: bool = False
    ) -> None:
        """`cp SOURCE CONTAINER:DESTINATION`: see copy.py."""
        from bastion.engine.copy import copy_in

        with self._container_root(name_or_id) as root:
            copy_in(root, source, destination, owners=owners)

    def update(self, name_or_id: str, change: ResourceUpdate) -> list[str]:
        """Change the container's limits (now, if it runs) and restart policy, as `docker
        update` (container_update.py); the runtime's warnings."""
        from bastion.engine.container_update import update

        return update(self, name_or_id, change)

    def export(self, name_or_id: str, out: IO[bytes]) -> None:
        """The container's filesystem (its overlay: no volumes or tmpfs) as a tar stream on
        `out`, as `docker export` (container_export.py)."""
        from bastion.engine.container_export import export

        export(self, name_or_id, out)

    @contextlib.contextmanager
    def _container_root(self, name_or_id: str) -> Iterator[str]:
        """The container's root as a host path: a running container's as its init sees it
        (/proc/PID/root: its volumes and tmpfs too); otherwise its overlay, mounted for the
        while under the start lock (a `start` waits for it)."""
        from bastion.engine import operations

        record = self._sync(self.container(name_or_id))
        if record.status == RUNNING:
            container = operations.runtime_container(self.runtime_root, record)
            yield f"/proc/{container.pid}/root"
            return
        with self._overlay_root(record) as root:
            yield root

    @contextlib.contextmanager
    def _overlay_root(self, record: ContainerRecord) -> Iterator[str]:
        """The host path of the container's overlay under its start lock (a `start`, or the
        recording of its exit, waits): mounted for the while if it is not (`cp`, `export`)."""
        from bastion.images import ContainerFilesystem

        directory = self._directory(record.id)
        lock = start_lock(directory, blocking=True)
        assert lock is not None
        try:
            rootfs = ContainerFilesystem(os.path.join(directory, "fs"))
            mounted = not rootfs.is_mounted()
            if mounted:
                rootfs.mount(record.config["lowerdirs"])
            try:
                yield rootfs.merged
            finally:
                if mounted:
                    rootfs.unmount()
        finally:
            os.close(lock)

    # --- the engine as a whole (system.py, repair.py) ---------------------------------------

    def prune_containers(self) -> Pruned:
        """Remove every container that is not running (created and exited ones)."""
        from bastion.engine import operations
        from bastion.engine.system import Pruned

        pruned = Pruned()
        for record in self.containers(all=True):
            if record.status in (RUNNING, STARTING):
                continue
            size = operations.container_size(self._directory(record.id))
            with contextlib.suppress(NoSuchContainerError, ContainerStateError):
                pruned.removed.append(self.remove(record.id))
                pruned.reclaimed += size
        return pruned

    def prune_images(self, *, all: bool = False) -> Pruned:
        """Remove untagged images (with `all`, every image no container was made from), then
        the blobs and layers nothing needs any more: the names removed and the bytes freed."""
        from bastion.engine import image_verbs, operations
        from bastion.engine.system import Pruned

        usage = [os.path.join(self.root, "layers"), os.path.join(self.root, "images")]
        before = sum(operations.disk_usage(path) for path in usage)
        records = {r.name: r for r in self.metadata.images()}
        removed = image_verbs.prune(self, all=all)
        left = {r.image_id for r in self.metadata.images()}
        for name in removed:
            self._log_image_removal(records[name], named=records[name].image_id in left)
        after = sum(operations.disk_usage(path) for path in usage)
        return Pruned(removed=list(removed), reclaimed=max(0, before - after))

    def repair(self) -> list[str]:
        """Put right what a killed `bastion` left (repair.py); what it removed."""
        return repair.repair(self)

    def system_prune(self, options: PruneOptions | None = None) -> dict[str, Pruned]:
        from bastion.engine.system import PruneOptions, prune

        return prune(self, options or PruneOptions())

    def system_df(self) -> list[dict[str, Any]]:
        from bastion.engine.system import df

        return df(self)

    def info(self) -> dict[str, Any]:
        from bastion.engine.system import info

        return info(self)

    def version(self) -> dict[str, Any]:
        from bastion.engine.system import version

        return version(self)

    # --- volumes (engine/volumes.py) -------------------------------------------------------

    @property
    def volumes(self) -> Volumes:
        return Volumes(self.root, self.metadata)

    def create_volume(
        self, name: str | None = None, *, labels: dict[str, str] | None = None
    ) -> VolumeRecord:
        volume, made = self.volumes.create(name, labels=labels)
        if made:
            self.event_log.record("volume", "create", volume.name, {"driver": "local"})
        return volume

    def volume(self, name: str) -> VolumeRecord:
        return self.volumes.get(name)

    def volume_list(self) -> list[VolumeRecord]:
        return self.volumes.records()

    def remove_volume(self, name: str) -> None:
        self.volumes.remove(name)
        self.event_log.record("volume", "destroy", name, {"driver": "local"})

    def prune_volumes(self, *, all: bool = False) -> dict[str, int]:
        removed = self.volumes.prune(all=all)
        for name in removed:
            self.event_log.record("volume", "destroy", name, {"driver": "local"})
        return removed

    # --- networks (docs/network.md) ---------------------------------------------------------

    def _net(self) -> Networks:
        if self._networks is None:
            from bastion.engine.networks import Networks

            self._networks = Networks(self.metadata, self.root, self._naming)
        return self._networks

    def _plan_network(self, options: ContainerOptions, exposed: tuple[str, ...]) -> dict[str, Any]:
        """The network part of a new container's config: its mode, the networks it joins
        (checked now: an unknown one makes nothing) and its published ports."""
        from bastion.engine.errors import InvalidOptionError

        mode = options.network
        networked = options.publish or options.publish_all or options.ip or options.network_aliases
        if mode in ("none", "host") or mode.startswith("container:"):
            if networked:
                raise InvalidOptionError(
                    f"--network {mode} takes no -p, -P, --ip or --network-alias",
                    hint="those need a network: --network bridge or a network's name",
                )
            if mode.startswith("container:"):
                mode = "container:" + self.container(mode.split(":", 1)[1]).id
            return {"network": mode}
        net = self._net()
        return {
            "network": mode,
            "networks": net.plan(mode, options.ip, options.network_aliases),
            "ports": net.ports(options.publish, options.publish_all, exposed),
        }

    def create_network(
        self,
        name: str,
        *,
        subnets: tuple[str, ...] = (),
        gateway: str | None = None,
        internal: bool = False,
        ipv6: bool = False,
        labels: dict[str, str] | None = None,
    ) -> Network:
        """`network create`: recorded, its bridge made (docs/network.md)."""
        network = self._net().create(
            name, subnets=subnets, gateway=gateway, internal=internal, ipv6=ipv6, labels=labels
        )
        self.event_log.record("network", "create", network.id, {"name": name, "type": "bridge"})
        return network

    def networks(self) -> list[Network]:
        net = self._net()
        net.ensure_default()
        return net.all()

    def network(self, name_or_id: str) -> Network:
        return self._net().get(name_or_id)

    def inspect_network(self, name_or_id: str) -> dict[str, Any]:
        from bastion.engine.networks import network_document

        net = self._net()
        network = net.get(name_or_id)
        names = {r.id: r.name for r in self.metadata.containers()}
        leases = [(lease, names.get(lease.container_id, "")) for lease in net.leases()]
        return network_document(network, [p for p in leases if p[0].network_id == network.id])

    def _network_users(self, network: Network) -> list[str]:
        return [
            r.name
            for r in self.metadata.containers()
            if any(a["id"] == network.id for a in r.config.get("networks", []))
        ]

    def remove_network(self, name_or_id: str) -> str:
        """Remove a network no container is on (refused otherwise, naming them)."""
        net = self._net()
        network = net.get(name_or_id)
        removed = net.remove(network.id, users=self._network_users(network))
        self.event_log.record("network", "destroy", network.id, {"name": network.name})
        return removed

    def connect_network(
        self,
        network_name: str,
        name_or_id: str,
        *,
        ip: str | None = None,
        aliases: tuple[str, ...] = (),
    ) -> None:
        """`network connect`: the container joins the network (now, if it runs)."""
        record = self._sync(self.container(name_or_id))
        if "networks" not in record.config:
            raise ContainerStateError(
                f"container {record.name} has network mode {record.config.get('network')}",
                hint="only a container on a network can join another",
            )
        net = self._net()
        network = net.get(network_name)
        attachment = net.connect(record, network, ip, aliases)
        config = dict(record.config)
        config["networks"] = [*config["networks"], attachment]
        self.metadata.update_container(record.id, config=jsonio.dumps(config))
        net.rewrite_hosts(record, self._directory(record.id))
        self._log_network(network, "connect", record)

    def disconnect_network(self, network_name: str, name_or_id: str) -> None:
        """`network disconnect`: its veth and lease go now; its config forgets the network."""
        record = self._sync(self.container(name_or_id))
        net = self._net()
        network = net.get(network_name)
        attachments = record.config.get("networks", [])
        if not any(a["id"] == network.id for a in attachments):
            raise ContainerStateError(f"container {record.name} is not on network {network.name}")
        net.teardown(record.id, network.id)
        config = dict(record.config)
        config["networks"] = [a for a in attachments if a["id"] != network.id]
        self.metadata.update_container(record.id, config=jsonio.dumps(config))
        net.rewrite_hosts(record, self._directory(record.id))
        self._log_network(network, "disconnect", record)

    def _log_network(self, network: Network, action: str, record: ContainerRecord) -> None:
        """moby's `connect`/`disconnect`: the network as actor, the container an attribute."""
        attributes = {"container": record.id, "name": network.name, "type": "bridge"}
        self.event_log.record("network", action, network.id, attributes)

    def prune_networks(self) -> list[str]:
        """For `system prune` and `network prune`: repair what killed processes left
        (leases, veths, namespaces of containers that no longer run, links no record names,
        the rules), then remove the user networks no container is on. Returns their names."""
        live = {r.id for r in self.containers(all=True) if r.status in (RUNNING, STARTING)}
        net = self._net()
        net.repair(live)
        removed = []
        for network in net.all():
            if network.user_defined and not self._network_users(network):
                with contextlib.suppress(Exception):  # one joined meanwhile: it stays
                    removed.append(net.remove(network.id, users=[]))
                    self.event_log.record("network", "destroy", network.id, {"name": network.name})
        return removed

    def reset_networks(self) -> None:
        """Remove every network, the default one too, and the firewall's table: what an
        engine root's owner (a test, an uninstall) does once no container is left."""
        net = self._net()
        net.repair(set())
        for network in net.all():
            net.remove(network.id, users=self._network_users(network), predefined_ok=True)
        net.remove_firewall()

    # --- the sensor (bastion.sensor: the service, the alert store) ---------------------------

    @property
    def alerts_db(self) -> str:
        """The alert store of the sensor the engine starts (`run --watch`)."""
        return os.path.join(self.root, "alerts.db")

    def ensure_sensor(self) -> int:
        """A sensor service watching this engine's containers (`bastion sensor`, detached),
        started unless one already serves its directory (`$BASTION_SENSOR_DIR`, default
        /run/bastion-sensor); its pid once its probe is attached, so a container started
        after this is seen from its first syscall."""
        from bastion.sensor import service

        directory = os.environ.get("BASTION_SENSOR_DIR") or service.DEFAULT_SERVICE_DIR
        bastion = os.path.join(os.path.dirname(self.runtime), "bastion")
        argv = [bastion, "--root", self.runtime_root, "sensor", "--service-dir", directory]
        argv += ["--no-stdout", "--alerts-db", self.alerts_db]
        return service.ensure_running(argv, directory)

    def alert_counts(self) -> dict[str, int]:
        """Alerts per container (by short id) in the engine's alert store; {} without one."""
        if not os.path.exists(self.alerts_db):
            return {}
        from bastion.sensor.outputs.store import AlertStore

        store = AlertStore(self.alerts_db, readonly=True)
        try:
            return store.counts_by_container()
        finally:
            store.close()

    def alerts(self, name_or_id: str, *, limit: int = 20) -> list[dict[str, Any]]:
        """The container's latest alerts (rule, priority, time, output, action) from the
        engine's alert store, oldest first."""
        if not os.path.exists(self.alerts_db):
            return []
        from bastion.sensor.outputs.store import AlertStore

        record = self.container(name_or_id)
        store = AlertStore(self.alerts_db, readonly=True)
        try:
            found = store.query(container=record.id[:12], limit=limit)
        finally:
            store.close()
        return [
            {
                "Time": a.time_iso,
                "Rule": a.rule,
                "Priority": a.priority,
                "Output": a.output,
                "Action": a.action,
            }
            for a in found
        ]

    def alerts_since(self, since_ns: int, *, limit: int = 1000) -> list[dict[str, Any]]:
        """Every container's alerts at or after `since_ns` (ns since the epoch) in the engine's
        alert store, oldest first: time_ns, container_id (short), container_name, rule,
        priority, output, action. [] without a store."""
        if not os.path.exists(self.alerts_db):
            return []
        from bastion.sensor.outputs.store import AlertStore

        store = AlertStore(self.alerts_db, readonly=True)
        try:
            found = store.query(since_ns=since_ns, limit=limit)
        finally:
            store.close()
        return [
            {
                "time_ns": a.time_ns,
                "container_id": a.container_id,
                "container_name": a.container_name,
                "rule": a.rule,
                "priority": a.priority,
                "output": a.output,
                "action": a.action or "",
                "event_num": a.event_num,
            }
            for a in found
        ]

    def audit(self, name_or_id: str) -> Report:
        """The isolation scorecard of a running container, read from its live init process
        (`bastion.audit`), not from its configuration."""
        from bastion.audit import audit

        record = self._sync(self.container(name_or_id))
        if record.status != RUNNING or record.pid <= 0:
            raise ContainerStateError(f"container {record.name} is not running")
        return audit(record.pid, target=record.name)

    # --- internals --------------------------------------------------------------------------

    def _directory(self, container_id: str) -> str:
        return os.path.join(self.root, "containers", container_id)

    def _get(self, container_id: str) -> ContainerRecord:
        record = self.metadata.container(container_id)
        if record is None:
            raise NoSuchContainerError(f"no such container: {container_id}")
        return record

    def _sync(self, record: ContainerRecord) -> ContainerRecord:
        """Fold an ended container's exit status and OOM flag into its record and release its
        runtime state and overlay (the upper dir stays: `start` again, or `rm`)."""
        paths = monitor.MonitorPaths(self._directory(record.id))
        if record.status == STARTING:
            lock = start_lock(paths.directory, blocking=False)
            if lock is None:
                return record  # a live `start` holds it
            os.close(lock)
            # its `start` died: running if its monitor is, ended otherwise
            # (or, if it died between the runtime's create and start, settled as ended)
            if (
                monitor.exit_status(paths, record.id) is None
                and not monitor.wait(paths, 0)
                and not repair.settle_unstarted(self.runtime_root, paths, record)
            ):
                self.metadata.update_container(record.id, status=RUNNING)
                return self._get(record.id)
        elif record.status != RUNNING:
            return record
        if _exit_status(paths, record.id) is None:
            return record  # the monitor still runs: so does the container
        # it ended: fold that in under the start lock. Two lookers at once (the monitor's
        # `cleanup` and an `inspect`) would both release it, and one that read the exit of
        # the run before a restart would release the restarted one.
        try:
            lock = start_lock(paths.directory, blocking=True)
        except FileNotFoundError:
            return self._get(record.id)  # `rm` took it meanwhile: NoSuchContainerError
        assert lock is not None
        try:
            record = self._get(record.id)
            if record.status not in (RUNNING, STARTING):
                return record  # somebody else recorded the exit meanwhile
            status = _exit_status(paths, record.id)
            if status is None:
                return record  # restarted meanwhile, and running
            oom = self._oom_killed(record.id)
            try:
                finished = os.stat(paths.exit_file(record.id)).st_mtime
            except OSError:
                finished = time.time()
            from bastion.images import ContainerFilesystem

            self._release(record.id, ContainerFilesystem(os.path.join(paths.directory, "fs")))
            self.metadata.update_container(
                record.id,
                status=self._ended_status(record, status),
                exit_code=status,
                oom_killed=oom,
                finished=finished,
                pid=0,
            )
            self.event_log.container(record, "die", exitCode=str(status))
            return self._get(record.id)
        finally:
            os.close(lock)

    def _ended_status(self, record: ContainerRecord, exit_code: int) -> str:
        """`restarting` when its restart policy restarts it, else `exited`: decided once, here,
        with the "stopped by the user" mark as it is now (read again: `stop` may have set it
        since `record` was read)."""
        from bastion.engine.restart import RestartPolicy

        policy = RestartPolicy.from_config(record.config.get("restart"))
        if not policy.enabled:
            return EXITED
        current = self.metadata.container(record.id) or record
        if policy.should_restart(exit_code, current.restart_count, current.stopped_by_user):
            return RESTARTING
        return EXITED

    def _oom_killed(self, container_id: str) -> bool:
        from bastion.runtime.container import Container
        from bastion.runtime.errors import ContainerNotFound

        try:
            return Container.load(self.runtime_root, container_id).oom_killed()
        except ContainerNotFound:
            return False

    def _release(self, container_id: str, rootfs: Any) -> None:
        """The runtime's state and cgroup, then the overlay; each tolerates being gone."""
        from bastion.runtime.container import Container
        from bastion.runtime.errors import ContainerNotFound

        with contextlib.suppress(ContainerNotFound):
            Container.load(self.runtime_root, container_id).delete(force=True)
        paths = monitor.MonitorPaths(self._directory(container_id))
        if os.path.exists(paths.health_scheduler_pid):  # only a container with a health check
            from bastion.engine.health import end_scheduler

            end_scheduler(paths)
        # veths, leases, the namespace, rules and names: only a networked container has any
        if os.path.exists(os.path.join(self.root, "netns", container_id)) or self.metadata.query(
            "SELECT 1 FROM leases WHERE container_id = ? LIMIT 1", (container_id,)
        ):
            self._net().teardown(container_id)
        if rootfs.is_mounted():
            rootfs.unmount()


def _exit_status(paths: monitor.MonitorPaths, container_id: str) -> int | None:
    """The ended container's exit status, or None while its monitor runs (255 when the
    monitor died without saying: Docker's "unknown")."""
    status = monitor.exit_status(paths, container_id)
    if status is None:
        if monitor.monitor_pid(paths) is not None and not monitor.wait(paths, 0):
            return None
        status = monitor.exit_status(paths, container_id)
    return 255 if status is None else status


def _random_name(container_id: str) -> str:
    number = int(container_id[:8], 16)
    adjective = _ADJECTIVES[number % len(_ADJECTIVES)]
    name = _NAMES[(number // len(_ADJECTIVES)) % len(_NAMES)]
    return f"{adjective}_{name}_{container_id[:4]}"


def is_signal(name: str) -> bool:
    """Whether `name` is a signal `signal_number` knows (it reads anything else as SIGTERM)."""
    text = name.upper()
    if text.isdigit():
        return 0 < int(text) < signal.NSIG
    return ("SIG" + text.removeprefix("SIG")) in signal.Signals.__members__


def signal_number(name: str) -> int:
    text = name.upper()
    if text.isdigit():
        return int(text)
    if not text.startswith("SIG"):
        text = "SIG" + text
    try:
        return int(signal.Signals[text])
    except KeyError:
        return int(signal.SIGTERM)


def _tree_size(path: str) -> int:
    total = 0
    for directory, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(directory, name)).st_size
    return total
