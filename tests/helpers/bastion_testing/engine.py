"""The engine test rig: the `bastion` CLI over a private engine root, with a real registry on
127.0.0.1 (Debian's docker-registry) holding test images pushed with skopeo.

`engine_rig` is what a module-scoped fixture wraps:

    @pytest.fixture(scope="module")
    def bastion(busybox_rootfs: str) -> Iterator[Bastion]:
        with engine_rig(busybox_rootfs) as b:
            yield b

Everything lives in a temporary directory named `bst-test-engine-*` (the runtime's state under
it) with cgroups under `/bastion-test/bst-test-engine-*`. Its networks' bridges, veths and nft
table carry a prefix of its own (`bst` + 4 hex digits) and its default network a free private
/24 (`BASTION_NETWORK_PREFIX`, `BASTION_NETWORK_SUBNET`): a test never touches `bastion0`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bastion_testing.layers import file, make_tar, tar_directory, write_oci_image
from bastion_testing.registry import private_dir, skopeo_copy, start_registry

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

BASTION = os.path.join(os.path.dirname(sys.executable), "bastion")


@dataclass
class Bastion:
    root: str
    runtime_root: str
    cgroup_parent: str
    image: str
    #: the engine's network environment (`network_env`)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def network_prefix(self) -> str:
        return self.env.get("BASTION_NETWORK_PREFIX", "")

    def argv(self, *args: str) -> list[str]:
        return [
            BASTION,
            *("--root", self.root, "--runtime-root", self.runtime_root),
            *("--cgroup-parent", self.cgroup_parent),
            *args,
        ]

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, **self.env},
        )

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def inspect(self, name: str) -> dict[str, object]:
        doc: dict[str, object] = json.loads(self.ok("inspect", name))[0]
        return doc


def free_subnet(avoid: tuple[str, ...] = ()) -> str:
    """A private /24 in 10.200.0.0/13 that no host route (a bridge of another test session)
    and nothing in `avoid` overlaps."""
    from bastion.network.plumbing import host_routes

    taken = [str(route) for route, _ in host_routes() if route.version == 4] + list(avoid)
    pool = ipaddress.IPv4Network("10.200.0.0/13")
    for _ in range(64):
        subnet = ipaddress.IPv4Network(
            (int(pool.network_address) + 256 * secrets.randbelow(2048), 24)
        )
        if not any(subnet.overlaps(ipaddress.IPv4Network(other)) for other in taken):
            return str(subnet)
    raise RuntimeError("no free /24 in 10.200.0.0/13")


def network_env() -> dict[str, str]:
    """A test engine's own network prefix and default subnet."""
    return {
        "BASTION_NETWORK_PREFIX": f"bst{secrets.token_hex(2)}",
        "BASTION_NETWORK_SUBNET": free_subnet(),
    }


def reset_networks(b: Bastion) -> None:
    """Every network of the rig's engine, its bridges and nft table; then none of its links
    may be left."""
    from bastion.engine import Engine
    from bastion.network.model import Naming
    from bastion.network.plumbing import link_names

    naming = Naming(b.env["BASTION_NETWORK_PREFIX"], b.env["BASTION_NETWORK_SUBNET"])
    with Engine(b.root, runtime_root=b.runtime_root, naming=naming) as engine:
        engine.reset_networks()
    assert [n for n in link_names() if n.startswith(naming.prefix)] == []


def _processes(match: Callable[[list[bytes]], bool]) -> list[int]:
    """The pids of the processes whose argv `match` accepts."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if match(argv):
            pids.append(int(pid))
    return pids


def conmons(root: str) -> list[int]:
    return _processes(
        lambda argv: argv[0].endswith(b"conmon") and any(root.encode() in a for a in argv)
    )


def health_schedulers(root: str) -> list[int]:
    """The health check schedulers (engine/health_scheduler.py) of the engine at `root`."""
    return _processes(
        lambda argv: (
            any(a.endswith(b"health_scheduler.py") for a in argv)
            and any(root.encode() in a for a in argv)
        )
    )


def cgroup_dirs(parent: str) -> list[str]:
    out = []
    for hierarchy in os.listdir("/sys/fs/cgroup"):
        path = f"/sys/fs/cgroup/{hierarchy}{parent}"
        if os.path.isdir(path):
            out.append(path)
    if os.path.isdir(f"/sys/fs/cgroup{parent}"):
        out.append(f"/sys/fs/cgroup{parent}")
    return out


def mounts_under(root: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(root)]


#: How mountinfo says an overlay is volatile (Linux 6.x shows `fsync=volatile`).
VOLATILE = frozenset({"volatile", "fsync=volatile"})


def overlay_options_under(root: str) -> list[frozenset[str]]:
    """The superblock options of each overlay mounted under `root`."""
    with open("/proc/self/mountinfo") as f:
        rows = [line.split() for line in f if " - overlay " in line]
    return [frozenset(row[-1].split(",")) for row in rows if row[4].startswith(root)]


@contextlib.contextmanager
def engine_rig(busybox_rootfs: str, prefix: str = "bst-test-engine-") -> Iterator[Bastion]:
    """A private engine root, a registry on 127.0.0.1 holding `busybox:latest`,
    `configured:1` (an image config with Entrypoint, Cmd, Env, WorkingDir, User, Labels) and
    `unique:1`, busybox pulled; on exit every container is removed and nothing may be left
    (overlay mounts, conmon, cgroups)."""
    with private_dir(prefix) as work:
        registry = start_registry(os.path.join(work, "registry"))
        try:
            source = os.path.join(work, "source")
            write_oci_image(
                source, "busybox", [tar_directory(busybox_rootfs)], config={"Cmd": ["/bin/sh"]}
            )
            skopeo_copy(
                f"oci:{source}:busybox",
                f"docker://{registry.host}/busybox:latest",
                "--dest-tls-verify=false",
                workdir=work,
            )
            root = os.path.join(work, "engine")
            b = Bastion(
                root=root,
                runtime_root=os.path.join(root, "runtime"),
                cgroup_parent=f"/bastion-test/{os.path.basename(work)}",
                image=f"{registry.host}/busybox:latest",
                env=network_env(),
            )
            write_oci_image(
                source,
                "configured",
                [tar_directory(busybox_rootfs)],
                config={
                    "Entrypoint": ["/bin/echo", "ep"],
                    "Cmd": ["default"],
                    "Env": ["FOO=image", "PATH=/bin:/usr/bin"],
                    "WorkingDir": "/tmp",
                    "User": "bst",
                    "Labels": {"from": "image"},
                },
            )
            skopeo_copy(
                f"oci:{source}:configured",
                f"docker://{registry.host}/configured:1",
                "--dest-tls-verify=false",
                workdir=work,
            )
            unique = make_tar([file("unique", b"only in this image\n")])
            write_oci_image(source, "unique", [tar_directory(busybox_rootfs), unique])
            skopeo_copy(
                f"oci:{source}:unique",
                f"docker://{registry.host}/unique:1",
                "--dest-tls-verify=false",
                workdir=work,
            )
            b.ok("pull", "-q", b.image)
            # every process a test starts (a pty's CLI, a service) names this engine's bridges
            # and nft table with the rig's prefix, never bastion0 and `inet bastion`
            saved = {key: os.environ.get(key) for key in b.env}
            os.environ.update(b.env)
            try:
                yield b
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
                left = b("ps", "-a", "-q", "--no-trunc").stdout.split()
                if left:
                    b("rm", "-f", *left)
                reset_networks(b)
                assert left == [], "a test left containers"
                assert mounts_under(root) == []
                assert conmons(root) == []
                assert health_schedulers(root) == []
                assert cgroup_dirs(b.cgroup_parent) == []
        finally:
            registry.stop()


@contextlib.contextmanager
def watched_engine_rig(busybox_rootfs: str, prefix: str) -> Iterator[Bastion]:
    """`engine_rig` whose `run --watch` uses a sensor service of its own
    (`$BASTION_SENSOR_DIR` under the rig's directory), stopped at the end."""
    from bastion.sensor import service

    with engine_rig(busybox_rootfs, prefix=prefix) as b:
        directory = os.path.join(os.path.dirname(b.root), "sensor")
        os.environ["BASTION_SENSOR_DIR"] = directory
        try:
            yield b
        finally:
            del os.environ["BASTION_SENSOR_DIR"]
            if service.running(directory):
                service.stop(directory)
            assert service.running(directory) is None


def stored_alerts(b: Bastion, *args: str) -> list[dict[str, object]]:
    """The alerts in the rig's engine alert store (`bastion alerts -o json ARGS`)."""
    db = os.path.join(b.root, "alerts.db")
    if not os.path.exists(db):
        return []
    result = subprocess.run(
        [BASTION, "alerts", "--db", db, "-o", "json", "-n", "1000", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return [json.loads(line) for line in result.stdout.splitlines()]
