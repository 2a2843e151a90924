"""Kubernetes' Container Runtime Interface in the tests: a private containerd with its CRI plugin
on, two runtime handlers (`bastion`, with bastion-runc as the runc shim's binary, and `runc` for
a side-by-side check of the same pod specs), and a CNI bridge on a subnet of its own, driven by
a real CRI client (the PyPI package `container-runtime-interface-api`: CRI v1 stubs for grpcio).

`CriRig(workdir, bastion_runc, name)`: `start()` writes the configuration, starts containerd
(`clients.Containerd`), builds and imports the pause image (`pause.c`, since there is no registry
to pull Kubernetes' from) and the busybox test image into the `k8s.io` namespace. `pod(...)`,
`container(...)` and `exec(...)` wrap RunPodSandbox, CreateContainer + StartContainer and
ExecSync; `close()` stops and removes every pod through CRI, then lets containerd's own
clean-up check for leftovers, and removes the bridge and the IPAM store.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from typing import TYPE_CHECKING, Any

from bastion_testing import clients

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import grpc
    from cri_api.v1 import api_pb2 as cri

#: The handlers every rig has (RuntimeClass names): bastion-runc, and runc as the reference.
HANDLERS = ("bastion", "runc")
PAUSE_IMAGE = "bst.test/pause:1"
BUSYBOX_IMAGE = "bst.test/busybox:1"
NAMESPACE = "k8s.io"  # CRI's containerd namespace (fixed by the CRI plugin)
PAUSE_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pause.c")
_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def missing() -> str | None:
    """Why the rig cannot run here (a binary or the CRI stubs are missing), or None."""
    absent = clients.missing_binaries("containerd", "ctr", "containerd-shim-runc-v2", "runc", "gcc")
    if not os.path.exists("/usr/lib/cni/bridge"):
        absent.append("containernetworking-plugins (/usr/lib/cni)")
    try:
        import cri_api.v1.api_pb2  # noqa: F401
        import grpc  # noqa: F401
    except ImportError:
        absent.append("the PyPI package container-runtime-interface-api")
    return f"{' and '.join(absent)} not installed (scripts/setup installs them)" if absent else None


def build_pause_rootfs(dest: str) -> str:
    """A rootfs holding only a static `/pause` (pause.c)."""
    os.makedirs(dest)
    subprocess.run(
        [
            "gcc",
            "-static",
            "-Os",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-o",
            f"{dest}/pause",
            PAUSE_SOURCE,
        ],
        check=True,
        capture_output=True,
    )
    return dest


class CriRig:
    """A private containerd serving CRI v1 on a unix socket under `workdir` (see the module)."""

    def __init__(
        self, workdir: str, bastion_runc: str, name: str, subnet: str, cgroup_parent: str
    ) -> None:
        self.workdir = workdir
        self.name = name
        self.subnet = subnet
        self.cgroup_parent = cgroup_parent
        # A bridge name fits IFNAMSIZ (15) and carries the test's random part, for the leak check.
        self.bridge = f"bstk{name.rsplit('-', 1)[-1][:8]}"
        self.cni_dir = os.path.join(workdir, "cni")
        self.ipam_dir = os.path.join(workdir, "ipam")
        self.runc_root = os.path.join(workdir, "runc-ref")
        self.containerd = clients.Containerd(
            workdir, bastion_runc, NAMESPACE, cgroup_parent, plugins=self._plugins()
        )
        self.bastion_root = os.path.join(self.containerd.runc_root, NAMESPACE)
        self._channel: grpc.Channel | None = None
        self._runtime: Any = None
        self._images: Any = None

    def _plugins(self) -> str:
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        runtimes = f"{cri}.containerd.runtimes"
        return "\n".join(
            [
                f"[{cri}]",
                f'  sandbox_image = "{PAUSE_IMAGE}"',
                # The streaming server (attach, port-forward) on loopback, on a free port.
                '  stream_server_address = "127.0.0.1"',
                '  stream_server_port = "0"',
                "  disable_apparmor = true",
                # The sandbox asks for -998; lowering a score needs CAP_SYS_RESOURCE, which
                # this machine does not give root: containerd then uses no less than its own.
                "  restrict_oom_score_adj = true",
                # Pod network namespaces under our state directory, not /var/run/netns.
                "  netns_mounts_under_state_dir = true",
                f"[{cri}.containerd]",
                '  snapshotter = "overlayfs"',
                '  default_runtime_name = "runc"',
                f"[{runtimes}.bastion]",
                '  runtime_type = "io.containerd.runc.v2"',
                f"[{runtimes}.bastion.options]",
                f'  BinaryName = "{os.path.join(self.workdir, "bin", "bastion-runc")}"',
                f'  Root = "{os.path.join(self.workdir, "runc")}"',
                f"[{runtimes}.runc]",
                '  runtime_type = "io.containerd.runc.v2"',
                f"[{runtimes}.runc.options]",
                '  BinaryName = "/usr/sbin/runc"',
                f'  Root = "{self.runc_root}"',
                f"[{cri}.cni]",
                '  bin_dir = "/usr/lib/cni"',
                f'  conf_dir = "{self.cni_dir}"',
                "  max_conf_num = 1",
                "",
            ]
        )

    # -- life ----------------------------------------------------------------------------------

    def start(self, busybox_rootfs: str) -> None:
        os.makedirs(self.cni_dir, exist_ok=True)
        with open(os.path.join(self.cni_dir, "10-bastion-test.conflist"), "w") as f:
            json.dump(self._conflist(), f, indent=2)
        self.containerd.start()
        pause = build_pause_rootfs(os.path.join(self.workdir, "pause-rootfs"))
        self.containerd.import_image(pause, PAUSE_IMAGE, {"Entrypoint": ["/pause"], "Env": [_PATH]})
        # The busybox image with an /etc/shadow, for the sensor's test to read.
        rootfs = os.path.join(self.workdir, "busybox-rootfs")
        subprocess.run(["cp", "-a", busybox_rootfs, rootfs], check=True, capture_output=True)
        with open(os.path.join(rootfs, "etc", "shadow"), "w") as f:
            f.write("root:*:19000:0:99999:7:::\n")
        os.chmod(os.path.join(rootfs, "etc", "shadow"), 0o640)
        self.containerd.import_image(rootfs, BUSYBOX_IMAGE)
        shutil.rmtree(rootfs)
        import grpc
        from cri_api.v1 import api_pb2_grpc

        self._channel = grpc.insecure_channel(f"unix://{self.containerd.socket}")
        # The generated gRPC stubs carry no annotations (the messages' .pyi do).
        self._runtime = api_pb2_grpc.RuntimeServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._images = api_pb2_grpc.ImageServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._wait_ready()

    def _conflist(self) -> dict[str, Any]:
        # No gateway, no masquerade: the bridge plugin then changes no sysctl and writes no
        # iptables rule; pods reach each other and their own namespaces only.
        return {
            "cniVersion": "0.4.0",
            "name": self.name,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.bridge,
                    "isGateway": False,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": self.ipam_dir,
                        "ranges": [[{"subnet": self.subnet}]],
                    },
                }
            ],
        }

    def _wait_ready(self, timeout: float = 30) -> None:
        from cri_api.v1 import api_pb2 as cri

        deadline = time.monotonic() + timeout
        while True:
            status = self._runtime.Status(cri.StatusRequest())
            conditions = {c.type: c.status for c in status.status.conditions}
            if conditions.get("RuntimeReady") and conditions.get("NetworkReady"):
                return
            if time.monotonic() > deadline:
                raise clients.ClientError(
                    f"CRI not ready: {status}\n{self.containerd.daemon_log_tail()}"
                )
            time.sleep(0.1)

    def close(self) -> list[str]:
        problems: list[str] = []
        if self._runtime is not None:
            try:
                problems += self._remove_pods()
            except Exception as exc:  # report it, and go on cleaning
                problems.append(f"removing the pods through CRI failed: {exc}")
        if self._channel is not None:
            self._channel.close()
        problems += self.containerd.close()
        for cid in sorted(os.listdir(self.runc_root)) if os.path.isdir(self.runc_root) else ():
            problems.append(f"runc state left: {self.runc_root}/{cid}")
        if os.path.exists(f"/sys/class/net/{self.bridge}"):
            subprocess.run(["ip", "link", "del", self.bridge], check=False, capture_output=True)
        return problems

    def _remove_pods(self) -> list[str]:
        from cri_api.v1 import api_pb2 as cri

        for pod in self._runtime.ListPodSandbox(cri.ListPodSandboxRequest()).items:
            self._runtime.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod.id))
            self._runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod.id))
        left = self._runtime.ListContainers(cri.ListContainersRequest()).containers
        return [f"container left after its pod was removed: {c.id}" for c in left]

    # -- CRI calls -----------------------------------------------------------------------------

    @property
    def runtime(self) -> Any:
        """The RuntimeService stub (raw CRI calls)."""
        return self._runtime

    def pod_config(
        self, name: str, *, namespace: str = "bst-test", host_network: bool = False
    ) -> cri.PodSandboxConfig:
        from cri_api.v1 import api_pb2 as cri

        mode = cri.NamespaceMode.NODE if host_network else cri.NamespaceMode.POD
        return cri.PodSandboxConfig(
            metadata=cri.PodSandboxMetadata(
                name=name, namespace=namespace, uid=f"uid-{name}", attempt=0
            ),
            # kubelet leaves the hostname unset for a hostNetwork pod: the node's is kept (both
            # runtimes refuse a hostname without a UTS namespace of its own).
            hostname="" if host_network else name[:63],
            log_directory=os.path.join(self.workdir, "logs", name),
            labels={"app": name},
            linux=cri.LinuxPodSandboxConfig(
                # kubelet's cgroupfs layout names its parents kubepods*: the sensor tells a
                # CRI container's cgroup by it (sensor/state/cgroups.py).
                cgroup_parent=f"{self.cgroup_parent}/kubepods-{name}",
                security_context=cri.LinuxSandboxSecurityContext(
                    namespace_options=cri.NamespaceOption(network=mode, pid=cri.NamespaceMode.POD)
                ),
            ),
        )

    def pod(self, config: cri.PodSandboxConfig, handler: str) -> str:
        from cri_api.v1 import api_pb2 as cri

        os.makedirs(config.log_directory, exist_ok=True)
        reply = self._runtime.RunPodSandbox(
            cri.RunPodSandboxRequest(config=config, runtime_handler=handler)
        )
        return str(reply.pod_sandbox_id)

    def container(
        self,
        pod_id: str,
        pod: cri.PodSandboxConfig,
        name: str,
        command: Sequence[str],
        *,
        security: cri.LinuxContainerSecurityContext | None = None,
        resources: cri.LinuxContainerResources | None = None,
        start: bool = True,
        tty: bool = False,
    ) -> str:
        """Create (and start) a busybox container running `command` in the pod."""
        from cri_api.v1 import api_pb2 as cri

        config = cri.ContainerConfig(
            metadata=cri.ContainerMetadata(name=name, attempt=0),
            image=cri.ImageSpec(image=BUSYBOX_IMAGE),
            command=list(command),
            log_path=f"{name}.log",
            tty=tty,
            linux=cri.LinuxContainerConfig(
                security_context=security or cri.LinuxContainerSecurityContext(),
                resources=resources or cri.LinuxContainerResources(),
            ),
        )
        reply = self._runtime.CreateContainer(
            cri.CreateContainerRequest(pod_sandbox_id=pod_id, config=config, sandbox_config=pod)
        )
        cid = str(reply.container_id)
        if start:
            self._runtime.StartContainer(cri.StartContainerRequest(container_id=cid))
        return cid

    def exec(self, cid: str, *argv: str, timeout: int = 20) -> tuple[int, str, str]:
        """ExecSync: (exit code, stdout, stderr)."""
        from cri_api.v1 import api_pb2 as cri

        reply = self._runtime.ExecSync(
            cri.ExecSyncRequest(container_id=cid, cmd=list(argv), timeout=timeout)
        )
        return int(reply.exit_code), reply.stdout.decode(), reply.stderr.decode()

    def log_lines(self, pod: cri.PodSandboxConfig, name: str) -> list[str]:
        """The container's CRI log (`TIME STREAM P|F TEXT` lines) as written so far."""
        try:
            with open(os.path.join(pod.log_directory, f"{name}.log")) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def pod_ip(self, pod_id: str) -> str:
        from cri_api.v1 import api_pb2 as cri

        status = self._runtime.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=pod_id))
        return str(status.status.network.ip)

    def container_state(self, cid: str) -> tuple[int, int]:
        """(state, exit code) from ContainerStatus."""
        from cri_api.v1 import api_pb2 as cri

        status = self._runtime.ContainerStatus(cri.ContainerStatusRequest(container_id=cid))
        return int(status.status.state), int(status.status.exit_code)

    def remove_pod(self, pod_id: str) -> None:
        from cri_api.v1 import api_pb2 as cri

        self._runtime.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod_id))
        self._runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod_id))

    def wait_exited(self, cid: str, timeout: float = 20) -> int:
        """Wait for the container to exit; its exit code."""
        from cri_api.v1 import api_pb2 as cri

        deadline = time.monotonic() + timeout
        while True:
            state, code = self.container_state(cid)
            if state == cri.ContainerState.CONTAINER_EXITED:
                return code
            if time.monotonic() > deadline:
                raise AssertionError(f"container {cid} still in state {state} after {timeout} s")
            time.sleep(0.05)

    def bastion_containers(self) -> Iterable[str]:
        """The ids bastion-runc holds state for (its root under the `bastion` handler)."""
        try:
            return sorted(n for n in os.listdir(self.bastion_root) if not n.startswith("."))
        except FileNotFoundError:
            return []
