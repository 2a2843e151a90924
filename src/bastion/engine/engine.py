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
import shutil
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

from bastion import jsonio
from bastion.engine import monitor
from bastion.engine.container_files import etc_files, read_in_layers, start_lock
from bastion.engine.errors import (
    ContainerStateError,
    EngineError,
    ImageInUseError,
    NoSuchContainerError,
)
from bastion.engine.metadata import ContainerRecord, ImageRecord, Metadata
from bastion.engine.spec import ContainerOptions, ImageFacts, build, merge
from bastion.identity import DEFAULT_STATE_ROOT
from bastion.runtime.store import write_atomic

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from bastion.images import Image, LayerStore, Layout, PullProgress

DEFAULT_ROOT = "/var/lib/bastion"
DEFAULT_CGROUP_PARENT = "/bastion"
ROOT_ENV = "BASTION_ROOT"

CREATED, STARTING, RUNNING, EXITED = "created", "starting", "running", "exited"

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
    ) -> None:
        self.root = os.path.abspath(root or default_root())
        self.runtime_root = os.path.abspath(runtime_root)
        self.cgroup_parent = "/" + cgroup_parent.strip("/")
        self.runtime = runtime or os.path.join(os.path.dirname(sys.executable), "bastion-runc")
        os.makedirs(os.path.join(self.root, "containers"), mode=0o700, exist_ok=True)
        self.metadata = Metadata(os.path.join(self.root, "bastion.db"))

    def close(self) -> None:
        self.metadata.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
    ) -> ImageRecord:
        """Pull `reference` from its registry, unpack its layers and record it."""
        from bastion.images import pull

        layers = self.layers
        image = pull(
            reference, self.layout, layers=layers, tls_verify=tls_verify, progress=progress
        )
        return self._record_image(image, layers)

    def _record_image(self, image: Image, layers: LayerStore) -> ImageRecord:
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
        a container was made from it, unless `force` (the container keeps its layers).
        Returns the names removed."""
        record = self.image(reference)
        users = [c.name for c in self.metadata.containers() if c.image_id == record.image_id]
        if users and not force:
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
        return [record.name]

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
        options = options or ContainerOptions()
        record, image = self._image_for_run(reference)
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
        process = merge(facts, options, container_id)
        labels = {**config.labels, **options.labels}
        directory = self._directory(container_id)
        saved = {
            "args": list(process.args),
            "env": list(process.env),
            "cwd": process.cwd,
            "user": options.user if options.user is not None else config.user,
            "hostname": process.hostname,
            "entrypoint": list(config.entrypoint or ()),
            "cmd": list(options.command or config.cmd or ()),
            "labels": labels,
            "memory": options.memory or 0,
            "pids_limit": options.pids_limit or 0,
            "network": options.network,
            "auto_remove": options.auto_remove,
            "detach": options.detach,
            "stop_signal": config.stop_signal or "SIGTERM",
            "diff_ids": list(config.diff_ids),
            "lowerdirs": lowerdirs,
        }
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
        try:
            self.metadata.insert_container(new)
            etc = etc_files(directory, process.hostname, options.network)
            annotations = {
                "bastion.name": name,
                "bastion.image": record.name,
                "bastion.image.digest": record.digest,
                **{f"bastion.label.{k}": v for k, v in labels.items()},
            }
            spec = build(
                process,
                options,
                rootfs=os.path.join(directory, "fs", "merged"),
                cgroup_path=f"{self.cgroup_parent}/{container_id}",
                annotations=annotations,
                etc_files=etc,
            )
            write_atomic(os.path.join(directory, "config.json"), jsonio.dumps(spec).encode())
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            with contextlib.suppress(Exception):
                self.metadata.delete_container(container_id)
            raise
        return new

    def start(self, name_or_id: str) -> ContainerRecord:
        """Start a created container: mount its overlay, set up its network, start its monitor
        (which has the runtime create it), then start its process."""
        from bastion.images import ContainerFilesystem
        from bastion.runtime.container import Container

        record = self._sync(self.container(name_or_id))
        if record.status == RUNNING:
            raise ContainerStateError(f"container {record.name} is already running")
        directory = self._directory(record.id)
        paths = monitor.MonitorPaths(directory)
        if record.status == EXITED:
            self._reset_for_restart(record, paths)
        rootfs = ContainerFilesystem(os.path.join(directory, "fs"))
        # "starting" under an flock: if this process dies half-way, the next look at the
        # container (`_sync`) gets the lock and knows nobody is finishing the start
        lock = start_lock(directory, blocking=True)
        assert lock is not None
        self.metadata.update_container(record.id, status=STARTING)
        try:
            if not rootfs.is_mounted():
                rootfs.mount(record.config["lowerdirs"])
            self._network_step(record)
            pid = monitor.start(
                paths,
                container_id=record.id,
                name=record.name,
                runtime=self.runtime,
                runtime_root=self.runtime_root,
                exit_command=self._exit_command(record),
            )
            Container.load(self.runtime_root, record.id).start()
            self.metadata.update_container(
                record.id, status=RUNNING, pid=pid, started=time.time(), exit_code=None
            )
        except BaseException:
            self._release(record.id, rootfs)
            self.metadata.update_container(record.id, status=record.status)
            raise
        finally:
            os.close(lock)
        return self._get(record.id)

    def _exit_command(self, record: ContainerRecord) -> list[str] | None:
        """What conmon runs when a detached `--rm` container ends: `bastion cleanup ID`
        (Podman's `container cleanup`), which removes it. Nobody else is there to."""
        if not (record.config.get("auto_remove") and record.config.get("detach")):
            return None
        bastion = os.path.join(os.path.dirname(self.runtime), "bastion")
        return [
            *(bastion, "--root", self.root, "--runtime-root", self.runtime_root),
            *("--cgroup-parent", self.cgroup_parent, "cleanup", record.id),
        ]

    def cleanup(self, container_id: str) -> None:
        """After the container ended (the monitor's exit command): record its status, release
        its runtime state and overlay, and remove it if it was run with `--rm`."""
        record = self._sync(self._get(container_id))
        if record.status == EXITED and record.config.get("auto_remove"):
            self.remove(record.id)

    def _network_step(self, record: ContainerRecord) -> None:
        """Where the network is set up, between the overlay and the runtime's create: with
        `none` the runtime makes an empty network namespace (loopback only), with `host`
        none at all. Bridges, veths and leases come with the network package."""
        if record.config.get("network", "none") not in ("none", "host"):
            raise EngineError(f"network mode {record.config['network']!r} is not supported yet")

    def _reset_for_restart(self, record: ContainerRecord, paths: monitor.MonitorPaths) -> None:
        for path in (paths.exit_file(record.id), paths.conmon_pid, paths.pid_file):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def run(self, reference: str, options: ContainerOptions | None = None) -> ContainerRecord:
        """`create` then `start`; the caller follows `logs(..., follow=True)` and `wait`s for
        a foreground run."""
        record = self.create(reference, options)
        try:
            return self.start(record.id)
        except BaseException:
            self.remove(record.id, force=True)
            raise

    def wait(self, name_or_id: str, timeout: float | None = None) -> int:
        """Wait for the container to end; its exit status (Docker's: 128+N for a signal)."""
        record = self.container(name_or_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            record = self._sync(self._get(record.id))
            if record.status == EXITED:
                return record.exit_code if record.exit_code is not None else 255
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise ContainerStateError(f"container {record.name} has not ended")
            if record.status == RUNNING:
                monitor.wait(monitor.MonitorPaths(self._directory(record.id)), left)
            else:
                time.sleep(0.1)  # created or starting: as `docker wait`, until it has run

    def logs(
        self, name_or_id: str, *, tail: int | None = None, follow: bool = False
    ) -> Iterator[monitor.LogLine]:
        record = self.container(name_or_id)
        paths = monitor.MonitorPaths(self._directory(record.id))
        return monitor.read_log(paths, tail=tail, follow=follow and record.status == RUNNING)

    def kill(self, name_or_id: str, sig: int = signal.SIGKILL) -> None:
        from bastion.runtime.container import Container

        record = self._sync(self.container(name_or_id))
        if record.status != RUNNING:
            raise ContainerStateError(f"container {record.name} is not running")
        Container.load(self.runtime_root, record.id).kill(sig)

    def stop(self, name_or_id: str, timeout: float = 10) -> ContainerRecord:
        """The stop signal (the image's StopSignal, else SIGTERM), then SIGKILL after
        `timeout` seconds, as `docker stop -t`."""
        record = self._sync(self.container(name_or_id))
        if record.status == RUNNING:
            paths = monitor.MonitorPaths(self._directory(record.id))
            sig = signal_number(record.config.get("stop_signal", "SIGTERM"))
            with contextlib.suppress(Exception):
                self.kill(record.id, sig)
            if not monitor.wait(paths, timeout):
                with contextlib.suppress(Exception):
                    self.kill(record.id, signal.SIGKILL)
                monitor.wait(paths, 10)
        return self._sync(self._get(record.id))

    def remove(self, name_or_id: str, *, force: bool = False) -> str:
        """Remove a container that is not running (with `force`, kill it first); returns
        its id."""
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
        from bastion.images import ContainerFilesystem

        directory = self._directory(record.id)
        self._release(record.id, ContainerFilesystem(os.path.join(directory, "fs")))
        shutil.rmtree(directory, ignore_errors=True)
        self.metadata.delete_container(record.id)
        return record.id

    def containers(self, *, all: bool = False) -> list[ContainerRecord]:
        records = [self._sync(r) for r in self.metadata.containers()]
        return records if all else [r for r in records if r.status == RUNNING]

    def container(self, name_or_id: str) -> ContainerRecord:
        """The container with this name, id or unique id prefix."""
        records = self.metadata.containers()
        for record in records:
            if record.name == name_or_id or record.id == name_or_id:
                return record
        matches = [r for r in records if r.id.startswith(name_or_id)] if name_or_id else []
        if len(matches) == 1:
            return matches[0]
        what = "more than one container" if matches else "no such container"
        raise NoSuchContainerError(f"{what}: {name_or_id}")

    def inspect(self, name_or_id: str) -> dict[str, Any]:
        from bastion.engine.inspect import container_document

        record = self._sync(self.container(name_or_id))
        return container_document(record, self._directory(record.id))

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
            if monitor.exit_status(paths, record.id) is None and not monitor.wait(paths, 0):
                self.metadata.update_container(record.id, status=RUNNING)
                return self._get(record.id)
        elif record.status != RUNNING:
            return record
        status = monitor.exit_status(paths, record.id)
        if status is None:
            if monitor.monitor_pid(paths) is not None and not monitor.wait(paths, 0):
                return record  # the monitor still runs: so does the container
            status = monitor.exit_status(paths, record.id)
            if status is None:
                status = 255  # the monitor died without saying: Docker's "unknown"
        oom = self._oom_killed(record.id)
        try:
            finished = os.stat(paths.exit_file(record.id)).st_mtime
        except OSError:
            finished = time.time()
        from bastion.images import ContainerFilesystem

        self._release(record.id, ContainerFilesystem(os.path.join(paths.directory, "fs")))
        self.metadata.update_container(
            record.id, status=EXITED, exit_code=status, oom_killed=oom, finished=finished, pid=0
        )
        return self._get(record.id)

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
        if rootfs.is_mounted():
            rootfs.unmount()


def _random_name(container_id: str) -> str:
    number = int(container_id[:8], 16)
    adjective = _ADJECTIVES[number % len(_ADJECTIVES)]
    name = _NAMES[(number // len(_ADJECTIVES)) % len(_NAMES)]
    return f"{adjective}_{name}_{container_id[:4]}"


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
