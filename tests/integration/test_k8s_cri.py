"""Kubernetes pods on bastion-runc through containerd's CRI plugin, with runc as a second handler
in the same containerd running the same pod specs (bastion_testing/cri.py).

A real CRI client (CRI v1 over gRPC) drives a private containerd 1.6: pod sandboxes (our pause
image), containers sharing the pod's network, ExecSync exit codes, a memory update, stop and
remove, a hostNetwork pod, RuntimeDefault seccomp, runAsUser and a read-only root. Every check
is an effect seen from inside the container or from the host's kernel files.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
import time
from typing import TYPE_CHECKING

import pytest

from bastion_testing import bundle as _bundle
from bastion_testing import cri as _cri
from bastion_testing.engine import free_subnet
from bastion_testing.watch import Watch

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

MIB = 1 << 20


@pytest.fixture(scope="module")
def rig(busybox_rootfs: str, bastion_runc: str) -> Iterator[_cri.CriRig]:
    why = _cri.missing()
    if why:
        pytest.skip(why)
    name = _bundle.new_name()
    # Short: containerd's gRPC socket path must fit in sun_path (108 bytes).
    workdir = tempfile.mkdtemp(prefix=f"{name}-cri-", dir="/tmp")
    rig = _cri.CriRig(workdir, bastion_runc, name, free_subnet(), f"{_bundle.CGROUP_PARENT}/{name}")
    try:
        rig.start(busybox_rootfs)
        yield rig
    finally:
        problems = rig.close()
    if problems:
        pytest.fail("the CRI rig's clean-up left these:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture(params=_cri.HANDLERS)
def handler(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _pod_name(handler: str) -> str:
    return f"{handler}-{_bundle.new_name('p-')}"[:40]


def test_pod_containers_share_the_network_and_exec_gives_exit_codes(
    rig: _cri.CriRig, handler: str
) -> None:
    config = rig.pod_config(_pod_name(handler))
    pod = rig.pod(config, handler)
    try:
        server = rig.container(
            pod,
            config,
            "web",
            [
                "sh",
                "-c",
                "mkdir /tmp/www && echo pod-$HOSTNAME > /tmp/www/index.html && "
                "exec httpd -f -p 8080 -h /tmp/www",
            ],
        )
        client = rig.container(pod, config, "client", ["sleep", "300"])
        # The second container reaches the first on the pod's loopback: one network namespace.
        for _ in range(100):
            code, out, err = rig.exec(client, "wget", "-qO-", "http://127.0.0.1:8080/")
            if code == 0:
                break
        assert (code, out.strip()) == (0, f"pod-{config.hostname}"), err
        assert rig.exec(client, "sh", "-c", "exit 3")[0] == 3
        assert rig.exec(server, "false")[0] == 1
        ip = rig.pod_ip(pod)
        assert ip and ip.startswith(rig.subnet.rsplit(".", 1)[0] + "."), ip
    finally:
        rig.remove_pod(pod)
    if handler == "bastion":
        assert not set(rig.bastion_containers()) & {pod, server, client}


def _pods_cgroup(rig: _cri.CriRig, config: object, cid: str, controller: str) -> str:
    parent = config.linux.cgroup_parent  # type: ignore[attr-defined]
    return f"/sys/fs/cgroup/{controller}{parent}/{cid}"


def test_a_tty_container_gets_a_terminal(rig: _cri.CriRig, handler: str) -> None:
    # CRI's tty: the shim passes --console-socket at create and logs what the terminal says.
    config = rig.pod_config(_pod_name(handler))
    pod = rig.pod(config, handler)
    try:
        cid = rig.container(
            pod, config, "term", ["sh", "-c", "test -t 1 && echo on-a-tty $(tty)"], tty=True
        )
        assert rig.wait_exited(cid) == 0
        for _ in range(100):
            lines = rig.log_lines(config, "term")
            if lines:
                break
            time.sleep(0.05)
        assert any(" stdout " in line and "on-a-tty /dev/" in line for line in lines), lines
    finally:
        rig.remove_pod(pod)


def test_memory_update_reaches_the_cgroup(rig: _cri.CriRig, handler: str) -> None:
    from cri_api.v1 import api_pb2 as cri

    config = rig.pod_config(_pod_name(handler))
    pod = rig.pod(config, handler)
    try:
        cid = rig.container(
            pod,
            config,
            "app",
            ["sleep", "300"],
            resources=cri.LinuxContainerResources(memory_limit_in_bytes=64 * MIB),
        )
        limit = os.path.join(_pods_cgroup(rig, config, cid, "memory"), "memory.limit_in_bytes")
        with open(limit) as f:
            assert int(f.read()) == 64 * MIB
        rig.runtime.UpdateContainerResources(
            cri.UpdateContainerResourcesRequest(
                container_id=cid,
                linux=cri.LinuxContainerResources(memory_limit_in_bytes=32 * MIB),
            )
        )
        with open(limit) as f:
            assert int(f.read()) == 32 * MIB
        stats = rig.runtime.ContainerStats(cri.ContainerStatsRequest(container_id=cid)).stats
        assert stats.memory.working_set_bytes.value > 0
    finally:
        rig.remove_pod(pod)


def test_host_network_pod_shares_the_hosts_network(rig: _cri.CriRig, handler: str) -> None:
    config = rig.pod_config(_pod_name(handler), host_network=True)
    pod = rig.pod(config, handler)
    try:
        cid = rig.container(pod, config, "app", ["sleep", "300"])
        code, out, err = rig.exec(cid, "readlink", "/proc/self/ns/net")
        assert code == 0, err
        assert out.strip() == os.readlink("/proc/self/ns/net")
    finally:
        rig.remove_pod(pod)


def test_security_context_seccomp_user_and_read_only_root(rig: _cri.CriRig, handler: str) -> None:
    from cri_api.v1 import api_pb2 as cri

    config = rig.pod_config(_pod_name(handler))
    pod = rig.pod(config, handler)
    security = cri.LinuxContainerSecurityContext(
        seccomp=cri.SecurityProfile(profile_type=cri.SecurityProfile.ProfileType.RuntimeDefault),
        run_as_user=cri.Int64Value(value=1000),
        readonly_rootfs=True,
    )
    try:
        cid = rig.container(pod, config, "app", ["sleep", "300"], security=security)
        code, out, _ = rig.exec(cid, "grep", "^Seccomp:", "/proc/self/status")
        assert out.split() == ["Seccomp:", "2"], out  # the kernel's word: a filter is on
        assert rig.exec(cid, "id", "-u")[1].strip() == "1000"
        code, _, err = rig.exec(cid, "touch", "/written")
        assert code != 0 and "Read-only file system" in err, err
        # Without a profile (Unconfined) the same container has none.
        plain = rig.container(pod, config, "plain", ["sleep", "300"])
        assert rig.exec(plain, "grep", "^Seccomp:", "/proc/self/status")[1].split()[1] == "0"
    finally:
        rig.remove_pod(pod)


def test_an_exited_containers_children_end_with_it(rig: _cri.CriRig, handler: str) -> None:
    # The pod shares one pid namespace, so the `sleep` the container's init leaves behind is
    # the pause process's child, still in the container's cgroup; containerd's shim sends
    # `kill --all ID 9` after the exit, and the runtime must end it as runc does (bastion-runc
    # used to answer "container not running", and the shim logged that it failed).
    config = rig.pod_config(_pod_name(handler))
    pod = rig.pod(config, handler)
    try:
        cid = rig.container(pod, config, "app", ["sh", "-c", "sleep 300 & echo started"])
        watcher = rig.container(pod, config, "watcher", ["sleep", "300"])
        assert rig.wait_exited(cid) == 0
        for _ in range(200):
            _, out, _ = rig.exec(watcher, "ps", "-o", "args")
            if "sleep 300 &" not in out and out.count("sleep 300") == 1:  # the watcher's own
                break
            time.sleep(0.05)
        assert out.count("sleep 300") == 1, f"the exited container's child still runs:\n{out}"
        log = rig.containerd.daemon_log_tail(lines=100_000).splitlines()
        assert not [line for line in log if "failed to kill init's children" in line]
    finally:
        rig.remove_pod(pod)


@pytest.mark.bpf
def test_the_sensor_names_the_pod_from_the_first_syscall(
    rig: _cri.CriRig, tmp_path: pathlib.Path
) -> None:
    # Each pod container's first and only command reads /etc/shadow: the alert must already
    # carry the pod, its namespace and the container, never <NA>. Under the bastion handler
    # they come from bastion-runc's identity record (the annotations containerd's CRI plugin put
    # in config.json); under runc, from that same config.json in the shim's bundle, read by the
    # sensor when it first meets the container's cgroup (sensor/state/engines.py).
    rules = tmp_path / "bst-test-k8s-rules.yaml"
    rules.write_text(
        "- rule: bst-test shadow read in a pod\n"
        "  desc: a pod's container reads /etc/shadow\n"
        "  condition: evt.type in (open, openat, openat2) and evt.dir = < and"
        " fd.name = /etc/shadow and container.id != host\n"
        "  output: shadow read (pod=%k8s.pod.name ns=%k8s.ns.name uid=%k8s.pod.uid"
        " app=%k8s.pod.label[app]"
        " container=%container.name image=%container.image.repository)\n"
        "  priority: WARNING\n"
    )
    watch = Watch(
        rig.bastion_root,
        "-r",
        str(rules),
        env={
            "BASTION_CONTAINERD_STATE": rig.containerd.state,
            # the pod's labels come from the CRI socket (sensor/state/cri.py)
            "BASTION_CRI_SOCKET": rig.containerd.socket,
        },
    )
    pods = {}
    try:
        for handler in _cri.HANDLERS:
            config = rig.pod_config(_pod_name(handler), namespace=f"bst-test-{handler}")
            pod = rig.pod(config, handler)
            try:
                cid = rig.container(pod, config, "reader", ["cat", "/etc/shadow"])
                assert rig.wait_exited(cid) == 0
            finally:
                rig.remove_pod(pod)
            pods[handler] = config
        time.sleep(1)  # the sensor evaluates a little after the syscall
        alerts, _ = watch.stop(timeout=60)
    finally:
        watch.kill()
    mine = [a["output_fields"] for a in alerts if a["rule"] == "bst-test shadow read in a pod"]
    for handler, config in pods.items():
        named = [f for f in mine if f["k8s.pod.name"] == config.metadata.name]
        assert named, f"no alert names {handler}'s pod: {mine}\n{''.join(watch.head)}"
        fields = named[0]
        assert fields["k8s.ns.name"] == f"bst-test-{handler}"
        assert fields["k8s.pod.uid"] == config.metadata.uid
        assert fields["container.name"] == "reader"
        assert fields["container.image.repository"] == "bst.test/busybox"
        assert fields["k8s.pod.label[app]"] == config.labels["app"]
