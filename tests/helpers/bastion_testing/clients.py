"""Podman and containerd driving `bastion-runc`: private, disposable environments for client tests.

`Podman(workdir, runtime, cgroup_parent)` is Debian's Podman 4.3 (with conmon) isolated from the
host's own Podman state: its `--root`, `--runroot` and `--tmpdir`, a `containers.conf`
(`CONTAINERS_CONF`), a `storage.conf` and a `registries.conf` all live under `workdir`; it uses the
cgroupfs manager, the file events logger, file locks (not the shared `/dev/shm/libpod_lock`), the
vfs storage driver and `--network none`, and puts containers under `cgroup_parent`.

`Containerd(workdir, runtime, namespace, cgroup_parent)` is a private containerd 1.6 daemon: root,
state and its gRPC socket under `workdir` (keep it short: a socket path has 108 bytes), the CRI
plugin and the plugins that need the network or write elsewhere disabled; `ctr` talks to it.

Both call the runtime through a wrapper script (`write_call_logger`) that appends each call's
argv to a log before it `exec`s the real `bastion-runc`, so a test can say exactly what the client
asked of the runtime (`calls()`, `format_calls`). `close()` puts the host back (containers, images,
conmon and shim processes, mounts, cgroups, the work directory) and returns what the client's
own clean-up had left behind, for the test to report.

The images are built here from the busybox test image: `write_rootfs_tar` (for `podman import`)
and `write_oci_archive` (an OCI image layout with one layer, for `ctr images import`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import platform
import select
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from typing import TYPE_CHECKING, Any

from bastion._sys.proc import unescape_mountinfo
from bastion.identity import DEFAULT_STATE_ROOT
from bastion_testing import bundle as _bundle
from bastion_testing import leaks as _leaks
from bastion_testing import runc as _runc

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

#: The image both clients import, under this name.
IMAGE = "localhost/bst-busybox:test"
#: Where bastion-runc keeps container state when the client passes no `--root` (Podman does not).
DEFAULT_RUNTIME_ROOT = DEFAULT_STATE_ROOT
#: What `bastion-runc` takes a value after, among its global options (runc's, see cli/runc/main.py).
_RUNTIME_GLOBALS_WITH_VALUE = ("--root", "--log", "--log-format", "--rootless", "--criu")
#: Host paths the clients create outside their configured directories, whatever they are told:
#: containers/image's blob-info cache for root (`podman import`), and containerd-shim's socket
#: directory (1.6 hard-codes /run/containerd/s); `ctr` puts IO fifos in /run/containerd/fifo
#: unless given `--fifo-dir`. `close()` removes those it made.
PODMAN_HOST_DIRS = ("/var/lib/containers", "/var/lib/containers/cache")
CONTAINERD_HOST_DIRS = ("/run/containerd", "/run/containerd/s", "/run/containerd/fifo")


class ClientError(AssertionError):
    """A client command that had to succeed failed (its argv, exit code, output)."""


def missing_binaries(*names: str) -> list[str]:
    """The programs among `names` that are not on PATH (nor in /usr/sbin, /sbin)."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return [name for name in names if shutil.which(name, path=path) is None]


# -- images ------------------------------------------------------------------------------------


def write_rootfs_tar(rootfs: str, dest: str) -> str:
    """A tar of the directory `rootfs` (owners, modes and symlinks kept, names sorted) at `dest`."""
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(os.listdir(rootfs)):
            tar.add(os.path.join(rootfs, name), arcname=name, filter=_anonymous)
    return dest


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uname = info.gname = ""  # numeric owners only, as image layers carry them
    return info


def write_oci_archive(
    rootfs: str, dest: str, name: str, image_config: Mapping[str, Any] | None = None
) -> str:
    """An OCI image layout tar at `dest`: one uncompressed layer made from `rootfs`, tagged `name`,
    with `image_config` as the image's run config (default: busybox's `sh`).

    The index's manifest carries both `io.containerd.image.name` (the full name, which
    `ctr images import` uses as is) and `org.opencontainers.image.ref.name` (the tag).
    """
    layer_path = f"{dest}.layer"
    write_rootfs_tar(rootfs, layer_path)
    try:
        layer = _descriptor_of_file(layer_path, "application/vnd.oci.image.layer.v1.tar")
        config = {
            "architecture": go_arch(),
            "os": "linux",
            "config": dict(image_config)
            if image_config is not None
            else {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["sh"],
            },
            "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
        }
        config_blob = _json_bytes(config)
        config_desc = _descriptor(config_blob, "application/vnd.oci.image.config.v1+json")
        manifest_blob = _json_bytes(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc,
                "layers": [layer],
            }
        )
        manifest_desc = _descriptor(manifest_blob, "application/vnd.oci.image.manifest.v1+json")
        manifest_desc["annotations"] = {
            "io.containerd.image.name": name,
            "org.opencontainers.image.ref.name": name.rpartition(":")[2],
        }
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [manifest_desc],
        }
        with tarfile.open(dest, "w") as tar:
            for directory in ("blobs", "blobs/sha256"):
                info = tarfile.TarInfo(directory)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            tar.add(layer_path, arcname=_blob_name(layer), filter=_anonymous)
            _add_bytes(tar, _blob_name(config_desc), config_blob)
            _add_bytes(tar, _blob_name(manifest_desc), manifest_blob)
            _add_bytes(tar, "oci-layout", _json_bytes({"imageLayoutVersion": "1.0.0"}))
            _add_bytes(tar, "index.json", _json_bytes(index))
    finally:
        os.unlink(layer_path)
    return dest


def go_arch() -> str:
    """This machine's architecture as Go (and so OCI image configs) names it."""
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm"}.get(
        machine, machine
    )


def _json_bytes(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def _descriptor(blob: bytes, media_type: str) -> dict[str, Any]:
    digest = hashlib.sha256(blob).hexdigest()
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(blob)}


def _descriptor_of_file(path: str, media_type: str) -> dict[str, Any]:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    size = os.path.getsize(path)
    return {"mediaType": media_type, "digest": f"sha256:{digest.hexdigest()}", "size": size}


def _blob_name(descriptor: Mapping[str, Any]) -> str:
    algorithm, _, hexdigest = str(descriptor["digest"]).partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


# -- the runtime call log ----------------------------------------------------------------------


def write_call_logger(path: str, runtime: str, log: str) -> str:
    """An executable `sh` script at `path` that logs its argv to `log`, then execs `runtime`.

    One line per call, written with a single write(2) so that concurrent calls do not mix: the
    pid, then each argument, tab-separated (no argument a client passes holds a tab or newline).
    """
    script = (
        "#!/bin/sh\n"
        "# Logs each call of the OCI runtime, then runs it (bastion_testing/clients.py).\n"
        'line=$$; for arg in "$@"; do line="$line\t$arg"; done\n'
        f"printf '%s\\n' \"$line\" >>{_sh_quote(log)}\n"
        f'exec {_sh_quote(runtime)} "$@"\n'
    )
    with open(path, "w") as f:
        f.write(script)
    os.chmod(path, 0o755)
    return path


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def read_calls(log: str) -> list[list[str]]:
    """The calls `write_call_logger`'s script logged: each one's arguments (without the pid)."""
    try:
        with open(log) as f:
            return [line.rstrip("\n").split("\t")[1:] for line in f if line.strip()]
    except FileNotFoundError:
        return []


def verb(call: Sequence[str]) -> str:
    """The command of one runtime call (`create`, `start`, ...), after runc's global options."""
    args = iter(call)
    for arg in args:
        if not arg.startswith("-"):
            return arg
        if arg in _RUNTIME_GLOBALS_WITH_VALUE:
            next(args, None)
    return ""


def verbs(calls: Iterable[Sequence[str]], container_id: str | None = None) -> list[str]:
    """The verbs of `calls`, only those naming `container_id` when given."""
    return [verb(c) for c in calls if container_id is None or container_id in c]


def format_calls(calls: Iterable[Sequence[str]]) -> str:
    return "\n".join("  bastion-runc " + " ".join(call) for call in calls) or "  (none)"


# -- processes, mounts, cgroups ----------------------------------------------------------------


def pids_mentioning(text: str) -> list[int]:
    """Processes (not this one) with `text` in one of their command-line arguments."""
    needle = text.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:  # exited while we looked
            continue
        if needle in cmdline:
            found.append(int(entry))
    return found


def describe_pid(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmdline = "(exited)"
    return f"pid {pid}: {cmdline}"


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait up to `timeout` s for `pids` to exit; those still running."""
    pids = list(pids)
    deadline = time.monotonic() + timeout
    while True:
        alive = [pid for pid in pids if _alive(pid)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def kill_and_wait(pids: Iterable[int], timeout: float = 10.0) -> list[int]:
    """SIGKILL `pids` (processes this test started) and wait for them to go; those still there."""
    pids = list(pids)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return wait_gone(pids, timeout)


def _alive(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie (which only its parent can reap)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def mounts_under(root: str) -> list[str]:
    """Mount points at or under `root` in our mount namespace, deepest (latest) first."""
    prefix = root.rstrip("/") + "/"
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = unescape_mountinfo(line.split()[4])
            if point == root or point.startswith(prefix):
                points.append(point)
    return points[::-1]


def unmount_all(root: str) -> list[str]:
    """Unmount everything at or under `root` (lazily if busy); the mount points unmounted."""
    done: list[str] = []
    for _ in range(5):  # stacked mounts show up again after the top one goes
        points = mounts_under(root)
        if not points:
            break
        for point in points:
            result = subprocess.run(["umount", point], capture_output=True, check=False)
            if result.returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)
            done.append(point)
    return done


def pids_in_cgroup_tree(path: str) -> list[int]:
    """The processes in cgroup `path` or below it, in any hierarchy."""
    pids: set[int] = set()
    for top in _runc.cgroup_dirs(path):
        for dirpath, _dirnames, _files in os.walk(top):
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    pids.update(int(line) for line in f if line.strip())
            except OSError:  # removed while we walked
                continue
    return sorted(pids)


def remove_cgroup_tree(path: str, timeout: float = 5.0) -> list[str]:
    """rmdir cgroup `path` and its descendants in every hierarchy; the directories left.

    Only test cgroups (`/bastion-test/...`) are accepted: never anything near our own cgroup.
    A cgroup whose processes are still exiting is busy for a moment, hence the retries.
    """
    if not path.startswith(f"{_bundle.CGROUP_PARENT}/"):
        raise ValueError(f"{path} is not a test cgroup")
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for top in _runc.cgroup_dirs(path):
            for dirpath, _dirnames, _files in list(os.walk(top, topdown=False)):
                try:
                    os.rmdir(dirpath)
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(dirpath)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def freezer_state(cgroup: str, root: str = _leaks.CGROUP_ROOT) -> str:
    """`FROZEN` or `THAWED` (or v1's transient `FREEZING`): cgroup `cgroup`'s freezer, from the
    v1 freezer hierarchy when the host has one, else from cgroup v2's `cgroup.freeze`."""
    if os.path.isdir(os.path.join(root, "freezer")):
        with open(f"{root}/freezer{cgroup}/freezer.state") as f:
            return f.read().strip()
    with open(f"{root}{cgroup}/cgroup.freeze") as f:
        return "FROZEN" if f.read().strip() == "1" else "THAWED"


def container_leftovers(container_id: str, cgroup: str, runtime_root: str) -> list[str]:
    """What of one container a client should have removed: runtime state, cgroup, processes."""
    left = []
    if os.path.exists(os.path.join(runtime_root, container_id)):
        left.append(f"runtime state {runtime_root}/{container_id}")
    left += [f"cgroup {d}" for d in _runc.cgroup_dirs(cgroup)]
    left += [f"process {p} in {cgroup}" for p in _runc.processes_in(cgroup)]
    return left


def wait_container_gone(container_id: str, cgroup: str, runtime_root: str) -> list[str]:
    """`container_leftovers`, polled for a few seconds (killed processes are reaped late)."""
    deadline = time.monotonic() + _runc.SETTLE_SECONDS
    while True:
        left = container_leftovers(container_id, cgroup, runtime_root)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


class HostDirs:
    """Host directories a client makes whatever it is told; `remove()` takes back ours.

    Only those absent before and empty (apart from `files` we know the client writes) at the end
    are removed, so a host Podman or containerd that appeared meanwhile keeps its own.
    """

    def __init__(self, dirs: Sequence[str], files: Sequence[str] = ()) -> None:
        self.new = [d for d in dirs if not os.path.lexists(d)]
        self.files = files

    def remove(self) -> None:
        for directory in sorted(self.new, key=len, reverse=True):
            for name in self.files:
                if os.path.dirname(name) == directory:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(name)
            with contextlib.suppress(OSError):  # not empty: someone else uses it now
                os.rmdir(directory)


def _stop_strays(cgroup_parent: str) -> list[str]:
    """Kill what still runs in the test's cgroups (containers the client lost track of)."""
    strays = pids_in_cgroup_tree(cgroup_parent)
    problems = [f"still running in {cgroup_parent}: {describe_pid(p)}" for p in strays]
    kill_and_wait(strays)
    return problems


# -- running commands --------------------------------------------------------------------------


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    check: bool = False,
    timeout: float = 60,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `argv` with stdout and stderr in files, never pipes: a detached container's monitor
    (conmon, a shim) may inherit them and keep a pipe open long after the command returns."""
    with (
        tempfile.TemporaryFile("w+") as inp,
        tempfile.TemporaryFile("w+") as out,
        tempfile.TemporaryFile("w+") as err,
    ):
        inp.write(stdin or "")
        inp.seek(0)
        code = subprocess.run(
            list(argv),
            stdin=inp if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=None if env is None else dict(env),
            timeout=timeout,
            check=False,
        ).returncode
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(list(argv), code, out.read(), err.read())
    if check and result.returncode != 0:
        raise ClientError(describe_result(result))
    return result


def describe_result(result: subprocess.CompletedProcess[str]) -> str:
    argv = " ".join(str(a) for a in result.args)
    return (
        f"`{argv}` exited {result.returncode}\n"
        f"--- stdout:\n{result.stdout.rstrip()}\n--- stderr:\n{result.stderr.rstrip()}"
    )


class PtySession:
    """A command whose stdin, stdout and stderr are the slave side of a new pty (for `-it`)."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.master, slave = os.openpty()
        try:
            self.process = subprocess.Popen(
                list(argv),
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=None if env is None else dict(env),
                start_new_session=True,
            )
        except BaseException:
            os.close(self.master)
            raise
        finally:
            os.close(slave)
        self.output = b""

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def expect(self, needle: bytes, timeout: float = 20) -> bytes:
        """Read until `needle` shows up in the output; the output so far. Fails on timeout."""
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                raise AssertionError(
                    f"{needle!r} did not show up within {timeout} s; the terminal showed:\n"
                    f"{self.output.decode(errors='replace')}"
                )
        return self.output

    def _read(self, timeout: float) -> bool:
        """Read what is there within `timeout`; False at end of file (the slave was closed)."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 4096)
        except OSError:  # EIO: every slave fd is closed
            return False
        self.output += data
        return bool(data)

    def wait(self, timeout: float = 20) -> int:
        """Wait for the command to exit, draining the terminal meanwhile; its exit code."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.argv} still runs after {timeout} s; the terminal showed:\n"
                    f"{self.output.decode(errors='replace')}"
                )
            self._read(0.05)
        while select.select([self.master], [], [], 0)[0] and self._read(0):
            pass  # what the command wrote just before it exited
        return self.process.returncode

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        os.close(self.master)


# -- Podman ------------------------------------------------------------------------------------


class Podman:
    """Podman with every piece of state under `workdir`, running containers with `runtime`."""

    def __init__(self, workdir: str, runtime: str, cgroup_parent: str) -> None:
        self.workdir = workdir
        self.cgroup_parent = cgroup_parent
        self.root = os.path.join(workdir, "root")
        self.runroot = os.path.join(workdir, "run")
        self.tmpdir = os.path.join(workdir, "tmp")
        self.calls_log = os.path.join(workdir, "runtime-calls.log")
        self.real_runtime = runtime
        for directory in (self.root, self.runroot, self.tmpdir, os.path.join(workdir, "bin")):
            os.makedirs(directory, exist_ok=True)
        self.runtime = write_call_logger(
            os.path.join(workdir, "bin", "bastion-runc"), runtime, self.calls_log
        )
        self.host_dirs = HostDirs(
            PODMAN_HOST_DIRS, files=["/var/lib/containers/cache/blob-info-cache-v1.boltdb"]
        )
        self.env = self._write_config()

    def _write_config(self) -> dict[str, str]:
        w = self.workdir
        conf = f"""\
# containers.conf(5) for bastion's client tests (bastion_testing/clients.py)
[containers]
# Podman's own defaults exceed this host's hard limits, and root lacks CAP_SYS_RESOURCE.
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"
netns = "none"

[network]
# netavark is not installed; with --network none no backend is ever asked for a network.
network_backend = "cni"
network_config_dir = "{w}/net"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
# file locks live in tmp_dir; "shm" would share /dev/shm/libpod_lock with the host's Podman.
lock_type = "file"
tmp_dir = "{self.tmpdir}"
volume_path = "{self.root}/volumes"
image_copy_tmp_dir = "{self.tmpdir}"
runtime = "bastion"
# bastion-runc takes runc's --log FILE --log-format json; Podman then reads errors from it.
runtime_supports_json = ["crun", "runc", "bastion", "bastion-runc"]

[engine.runtimes]
bastion = ["{self.runtime}"]
"""
        storage = f"""\
[storage]
driver = "vfs"
graphroot = "{self.root}"
runroot = "{self.runroot}"
"""
        registries = 'unqualified-search-registries = []\nshort-name-mode = "enforcing"\n'
        paths = {}
        for name, text in (
            ("containers.conf", conf),
            ("storage.conf", storage),
            ("registries.conf", registries),
        ):
            paths[name] = os.path.join(w, name)
            with open(paths[name], "w") as f:
                f.write(text)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CONTAINERS_", "XDG_"))}
        env.update(
            CONTAINERS_CONF=paths["containers.conf"],
            CONTAINERS_STORAGE_CONF=paths["storage.conf"],
            CONTAINERS_REGISTRIES_CONF=paths["registries.conf"],
            TMPDIR=self.tmpdir,
        )
        return env

    def argv(self, *args: str) -> list[str]:
        return [
            "podman",
            "--root",
            self.root,
            "--runroot",
            self.runroot,
            "--tmpdir",
            self.tmpdir,
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
            *args,
        ]

    @property
    def run_flags(self) -> list[str]:
        """What every `podman run` here gets: no network, our cgroup parent, no pulls."""
        return ["--network", "none", "--cgroup-parent", self.cgroup_parent, "--pull", "never"]

    def __call__(
        self, *args: str, check: bool = False, timeout: float = 60, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = run(self.argv(*args), env=self.env, check=False, timeout=timeout, stdin=stdin)
        if check and result.returncode != 0:
            raise ClientError(f"{describe_result(result)}\n{self.report()}")
        return result

    def calls(self) -> list[list[str]]:
        return read_calls(self.calls_log)

    def report(self, container_id: str | None = None, last: int = 30) -> str:
        """The runtime calls (of one container, or the `last` ones): for assertion messages."""
        calls = [c for c in self.calls() if container_id is None or container_id in c]
        return "runtime calls:\n" + format_calls(calls if container_id else calls[-last:])

    def import_image(self, rootfs: str, name: str = IMAGE) -> str:
        tar = write_rootfs_tar(rootfs, os.path.join(self.workdir, "rootfs.tar"))
        self("import", tar, name, check=True)
        os.unlink(tar)
        return name

    def container_cgroup(self, container_id: str) -> str:
        """The cgroup Podman's cgroupfs manager gives a container under our parent."""
        return f"{self.cgroup_parent}/libpod-{container_id}"

    def inspect(self, container_id: str) -> dict[str, Any]:
        docs: list[dict[str, Any]] = json.loads(self("inspect", container_id, check=True).stdout)
        return docs[0]

    def leftovers(self, container_id: str) -> list[str]:
        return wait_container_gone(
            container_id, self.container_cgroup(container_id), DEFAULT_RUNTIME_ROOT
        )

    def close(self) -> list[str]:
        """Remove every container, image, process, mount and cgroup; what Podman left itself."""
        problems = []
        ids = {call[-1] for call in self.calls() if verb(call) == "create"}
        for args in (("rm", "-a", "-f", "-t", "0"), ("rmi", "-a", "-f")):
            try:
                result = self(*args, timeout=120)
            except subprocess.TimeoutExpired as exc:
                problems.append(f"`podman {' '.join(args)}` timed out: {exc}")
                continue
            if result.returncode != 0:
                problems.append(describe_result(result))
        for cid in sorted(ids):
            problems += [f"after `podman rm -af`: {x}" for x in self.leftovers(cid)]
            if os.path.exists(os.path.join(DEFAULT_RUNTIME_ROOT, cid)):
                run([self.real_runtime, "delete", "--force", cid], timeout=30)
        # conmon runs `podman container cleanup` as it exits: give them a moment.
        conmons = wait_gone(pids_mentioning(self.workdir), timeout=5)
        problems += [f"still running after `podman rm -af`: {describe_pid(p)}" for p in conmons]
        kill_and_wait(conmons)
        problems += _stop_strays(self.cgroup_parent)
        problems += [f"mount left: {p}" for p in unmount_all(self.workdir)]
        problems += [f"cgroup left: {d}" for d in remove_cgroup_tree(self.cgroup_parent)]
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.host_dirs.remove()
        return problems


# -- containerd --------------------------------------------------------------------------------


class Containerd:
    """A private containerd daemon (started by `start()`) and `ctr` pointed at it."""

    #: Plugins that need the network, write outside root/state, or do not apply here.
    DISABLED_PLUGINS = (
        "io.containerd.grpc.v1.cri",
        "io.containerd.internal.v1.opt",  # would create /opt/containerd
        "io.containerd.snapshotter.v1.aufs",
        "io.containerd.snapshotter.v1.btrfs",
        "io.containerd.snapshotter.v1.devmapper",
        "io.containerd.snapshotter.v1.zfs",
        "io.containerd.tracing.processor.v1.otlp",
        "io.containerd.internal.v1.tracing",
    )

    def __init__(
        self,
        workdir: str,
        runtime: str,
        namespace: str,
        cgroup_parent: str,
        plugins: str = "",
    ) -> None:
        #: TOML appended to the configuration (`[plugins...]` tables); the CRI plugin stays on
        #: when it is configured there (bastion_testing/cri.py).
        self.plugins = plugins
        self.workdir = workdir
        self.namespace = namespace
        self.cgroup_parent = cgroup_parent
        self.socket = os.path.join(workdir, "c.sock")
        self.root = os.path.join(workdir, "root")
        self.state = os.path.join(workdir, "state")
        self.runc_root = os.path.join(workdir, "runc")
        self.fifo_dir = os.path.join(workdir, "fifo")
        self.calls_log = os.path.join(workdir, "runtime-calls.log")
        self.daemon_log = os.path.join(workdir, "containerd.log")
        self.real_runtime = runtime
        self.config = os.path.join(workdir, "config.toml")
        os.makedirs(os.path.join(workdir, "bin"), exist_ok=True)
        self.runtime = write_call_logger(
            os.path.join(workdir, "bin", "bastion-runc"), runtime, self.calls_log
        )
        self.host_dirs = HostDirs(CONTAINERD_HOST_DIRS)
        self.daemon: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        cri = "io.containerd.grpc.v1.cri"
        wanted = (cri,) if f'"{cri}"' in self.plugins else ()
        disabled = ", ".join(f'"{p}"' for p in self.DISABLED_PLUGINS if p not in wanted)
        with open(self.config, "w") as f:
            f.write(
                "# containerd config for bastion's client tests (bastion_testing/clients.py)\n"
                "version = 2\n"
                f'root = "{self.root}"\n'
                f'state = "{self.state}"\n'
                f"disabled_plugins = [{disabled}]\n"
                "[grpc]\n"
                f'  address = "{self.socket}"\n'
                "[ttrpc]\n"
                f'  address = "{self.socket}.ttrpc"\n'
                f"{self.plugins}"
            )
        with open(self.daemon_log, "ab") as log:
            self.daemon = subprocess.Popen(
                ["containerd", "--config", self.config, "--log-level", "debug"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.daemon.poll() is not None:
                raise ClientError(
                    f"containerd exited {self.daemon.returncode}:\n{self.daemon_log_tail()}"
                )
            if os.path.exists(self.socket) and self.ctr("version").returncode == 0:
                return
            if time.monotonic() > deadline:
                raise ClientError(f"containerd did not answer within {timeout} s")
            time.sleep(0.05)

    def daemon_log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.daemon_log, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def argv(self, *args: str) -> list[str]:
        return ["ctr", "--address", self.socket, "--namespace", self.namespace, *args]

    def ctr(
        self, *args: str, check: bool = False, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = run(self.argv(*args), check=False, timeout=timeout)
        if check and result.returncode != 0:
            raise ClientError(f"{describe_result(result)}\n{self.report()}")
        return result

    def run_flags(self, container_id: str) -> list[str]:
        """What every `ctr run` here gets: bastion-runc (through the logger), a runc root, the
        IO fifos and a cgroup under our parent."""
        return [
            "--runc-binary",
            self.runtime,
            "--runc-root",
            self.runc_root,
            "--fifo-dir",
            self.fifo_dir,
            "--cgroup",
            self.container_cgroup(container_id),
        ]

    def container_cgroup(self, container_id: str) -> str:
        return f"{self.cgroup_parent}/{container_id}"

    def shim_socket(self, container_id: str) -> str:
        """Where containerd 1.6's shim listens: /run/containerd/s/sha256(address/ns/id), whatever
        the daemon's state directory (runtime/v2/shim/util_unix.go, SocketAddress)."""
        key = os.path.join(self.socket, self.namespace, container_id).encode()
        return f"/run/containerd/s/{hashlib.sha256(key).hexdigest()}"

    def created(self) -> list[str]:
        """The ids of the containers the shim asked bastion-runc to create."""
        return sorted({call[-1] for call in self.calls() if verb(call) == "create"})

    def bundle(self, container_id: str) -> str:
        """The bundle directory the runc shim makes (its `log.json` holds the runtime's log)."""
        return os.path.join(
            self.state, "io.containerd.runtime.v2.task", self.namespace, container_id
        )

    def calls(self) -> list[list[str]]:
        return read_calls(self.calls_log)

    def report(self, container_id: str | None = None) -> str:
        """The runtime calls and the shim's log.json (of one container, or all)."""
        calls = [c for c in self.calls() if container_id is None or container_id in c]
        text = "runtime calls:\n" + format_calls(calls)
        logs = [container_id] if container_id else sorted({c[-1] for c in calls if c})
        for cid in logs:
            path = os.path.join(self.bundle(cid), "log.json")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    text += f"\n{path}:\n{f.read().rstrip()}"
        return text

    def import_image(
        self, rootfs: str, name: str = IMAGE, image_config: Mapping[str, Any] | None = None
    ) -> str:
        archive = write_oci_archive(
            rootfs, os.path.join(self.workdir, "image.tar"), name, image_config
        )
        self.ctr("images", "import", archive, check=True, timeout=120)
        os.unlink(archive)
        return name

    def tasks(self) -> dict[str, tuple[int, str]]:
        """`ctr task ls`: task id -> (pid, status)."""
        lines = self.ctr("task", "ls", check=True).stdout.splitlines()[1:]
        return {f[0]: (int(f[1]), f[2]) for f in (line.split() for line in lines) if len(f) == 3}

    def wait_stopped(self, container_id: str, timeout: float = 10) -> bool:
        """Poll `ctr task ls` until the task is STOPPED or gone; whether it did in time."""
        deadline = time.monotonic() + timeout
        while True:
            task = self.tasks().get(container_id)
            if task is None or task[1] == "STOPPED":
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def leftovers(self, container_id: str) -> list[str]:
        return wait_container_gone(
            container_id,
            self.container_cgroup(container_id),
            os.path.join(self.runc_root, self.namespace),
        )

    def close(self) -> list[str]:
        """Remove tasks, containers and images, stop containerd and its shims, unmount and remove
        everything; what containerd's own clean-up left."""
        problems = []
        if self.daemon is not None and self.daemon.poll() is None:
            try:
                problems += self._remove_through_ctr()
            except (ClientError, subprocess.TimeoutExpired) as exc:
                problems.append(f"clean-up through ctr failed: {exc}")
            self.daemon.terminate()
            try:
                self.daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                problems.append("containerd ignored SIGTERM for 15 s")
                self.daemon.kill()
                self.daemon.wait(timeout=10)
        runc_root = os.path.join(self.runc_root, self.namespace)
        if os.path.isdir(runc_root):
            # Dot entries are the runtime's own (its seccomp cache, deleted records), no container.
            for cid in sorted(n for n in os.listdir(runc_root) if not n.startswith(".")):
                problems.append(f"runtime state left: {runc_root}/{cid}")
                run([self.real_runtime, "--root", runc_root, "delete", "--force", cid], timeout=30)
        shims = wait_gone(pids_mentioning(self.socket), timeout=5)
        problems += [f"still running after containerd stopped: {describe_pid(p)}" for p in shims]
        kill_and_wait(shims)
        for cid in self.created():
            socket = self.shim_socket(cid)
            if os.path.lexists(socket):
                problems.append(f"shim socket left: {socket} (of {cid})")
                os.unlink(socket)
        problems += _stop_strays(self.cgroup_parent)
        problems += [f"mount left: {p}" for p in unmount_all(self.workdir)]
        problems += [f"cgroup left: {d}" for d in remove_cgroup_tree(self.cgroup_parent)]
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.host_dirs.remove()
        return problems

    def _remove_through_ctr(self) -> list[str]:
        problems = []
        listed = self.ctr("task", "ls", "-q")
        if listed.returncode != 0:
            return [describe_result(listed)]
        for task_id in listed.stdout.split():
            self.ctr("task", "kill", "-s", "KILL", task_id)
            self.wait_stopped(task_id)
            result = self.ctr("task", "delete", task_id)
            if result.returncode != 0:
                result = self.ctr("task", "delete", "--force", task_id)
            if result.returncode != 0:
                problems.append(describe_result(result))
        for cid in self.ctr("containers", "ls", "-q").stdout.split():
            result = self.ctr("containers", "rm", cid)
            if result.returncode != 0:
                problems.append(describe_result(result))
        for image in self.ctr("images", "ls", "-q").stdout.split():
            self.ctr("images", "rm", "--sync", image)
        for cid in self.created():
            problems += [f"after `ctr` clean-up: {x}" for x in self.leftovers(cid)]
        return problems
