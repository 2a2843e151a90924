"""bastion's default rules, live: real bastion-runc containers, the real probe, state and rules.

One probe, state and pipeline serve the module (as `bastion watch` builds them). The probe's
cgroup filter starts empty (nothing passes) and grows by each test container's cgroup id, read
from its identity.json between `create` and `start`, so the sensor sees every syscall of the
container's own program and nothing of the host. Each test runs a container that does the
rule's trigger next to a benign neighbour doing the nearest harmless thing, reads the ring until
both containers' init processes have exited, and checks the alerts of each by container name:
the trigger gets the rule (with the right process name), the neighbour does not.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bastion.oci.defaults import default_spec
from bastion.sensor.assemble import load_rules
from bastion.sensor.outputs.alert import Alert
from bastion.sensor.pipeline import Pipeline
from bastion.sensor.probe import Probe
from bastion.sensor.state import SensorState
from bastion_testing.bundle import make_bundle, new_name
from bastion_testing.helper import PATH_IN_ROOTFS as HELPER
from bastion_testing.helper import parse
from bastion_testing.plugin import bastion_runc_path
from bastion_testing.rootfs import USER_UID
from bastion_testing.runc import Runc

pytestmark = [pytest.mark.privileged, pytest.mark.bpf, pytest.mark.slow]

#: Seconds to wait for a container's last event once it has stopped.
DRAIN_S = 10.0


@dataclass
class Run:
    """One container of a test: its id, name, init pid and the alerts it raised."""

    id: str
    name: str
    bundle: str
    pid: int = 0
    cgroup_id: int = 0
    alerts: list[Alert] = field(default_factory=list)

    def rules(self) -> list[str]:
        return [a.rule for a in self.alerts]

    def of(self, rule: str) -> list[Alert]:
        return [a for a in self.alerts if a.rule == rule]


class Sensor:
    """The module's probe + state + rules + pipeline, and the containers it has been shown."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.runc = Runc(bastion_runc_path(), root)
        self.state = SensorState(runtime_roots=(root,))
        self.state.seed_from_proc()
        rules = load_rules(None, self.state, rule_matching="all")
        self.pipeline = Pipeline(engine=rules.engine, state=self.state, outputs=[])
        self.probe = Probe(cgroup_ids=())
        self.cgroups: set[int] = set()
        self.by_name: dict[str, Run] = {}
        self.exited: set[int] = set()
        self.alerts: list[Alert] = []
        self.seen: Counter[tuple[int, str]] = Counter()  # events by (cgroup id, type)

    # -- containers ---------------------------------------------------------------------

    def create(self, run: Run) -> None:
        """`bastion-runc create`, then let the container's cgroup through the probe's filter."""
        self.runc("create", "--bundle", run.bundle, run.id, check=True)
        run.pid = self.runc.state(run.id)["pid"]
        identity = json.loads(Path(self.root, run.id, "identity.json").read_text())
        run.cgroup_id = identity["cgroupIds"][0]
        self.cgroups.add(run.cgroup_id)
        self.probe.set_cgroups(self.cgroups)
        self.by_name[run.name] = run

    def delete(self, run: Run) -> None:
        self.runc("delete", "--force", run.id, check=False)
        self.cgroups.discard(run.cgroup_id)
        self.probe.set_cgroups(self.cgroups)

    @contextlib.contextmanager
    def started(self, *runs: Run) -> Iterator[None]:
        """Create and start `runs`; on leaving, delete them (whatever happened)."""
        try:
            for run in runs:
                self.create(run)
            for run in runs:
                self.runc("start", run.id, check=True)
            yield
        finally:
            for run in runs:
                self.delete(run)

    def run_to_end(self, *runs: Run, timeout_s: float = 20.0) -> None:
        """Start `runs`, wait for each to stop, and read every event up to their inits' exit."""
        with self.started(*runs):
            deadline = time.monotonic() + timeout_s
            for run in runs:
                while self.runc.state(run.id)["status"] != "stopped":
                    self.pump(0.05)
                    assert time.monotonic() < deadline, f"{run.name} did not stop"
            self.drain(*runs)

    # -- events -------------------------------------------------------------------------

    def pump(self, timeout_s: float) -> None:
        """Feed what the ring holds to the pipeline; file the alerts by container name."""
        self.probe.poll(timeout_s)
        events = self.probe.read_events()
        while events:
            self.exited.update(e.tid for e in events if e.type == "procexit")
            self.seen.update((e.cgroup_id, e.type) for e in events)
            for alert in self.pipeline.feed(events):
                self.alerts.append(alert)
                owner = self.by_name.get(alert.container_name)
                if owner is not None:
                    owner.alerts.append(alert)
            events = self.probe.read_events()

    def drain(self, *runs: Run) -> None:
        """Pump until every run's init process has exited (its procexit is its last event)."""
        deadline = time.monotonic() + DRAIN_S
        while not all(run.pid in self.exited for run in runs):
            assert time.monotonic() < deadline, "no procexit of the containers' init"
            self.pump(0.05)


@pytest.fixture(scope="module")
def sensor() -> Iterator[Sensor]:
    root = tempfile.mkdtemp(prefix=f"{new_name()}-root-")
    try:
        sensor = Sensor(root)
        with sensor.probe:
            yield sensor
    finally:
        runc = Runc(bastion_runc_path(), root)
        for name in os.listdir(root):
            if os.path.isdir(os.path.join(root, name)):
                runc("delete", "--force", name, check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def make(tmp_path: Path) -> Callable[..., Run]:
    """`make(label, args, **edits)`: a Run over a new bundle (`bastion_testing.bundle.make_bundle`,
    writable root so that a command can leave its output in /tmp/bst-out), named `<id>-<label>`
    through the `bastion.name` annotation; `prepare(rootfs)` edits its copy of the image before
    the container exists."""

    def factory(
        label: str,
        args: Sequence[str],
        *,
        prepare: Callable[[Path], None] | None = None,
        readonly: bool = False,
        **edits: Any,
    ) -> Run:
        bundle = make_bundle(tmp_path, args=args, readonly=readonly, **edits)
        cid = new_name()
        name = f"{cid}-{label}"
        config = json.loads(Path(bundle, "config.json").read_text())
        config["annotations"] = {**config.get("annotations", {}), "bastion.name": name}
        Path(bundle, "config.json").write_text(json.dumps(config))
        if prepare is not None:
            prepare(Path(bundle, "rootfs"))
        return Run(id=cid, name=name, bundle=bundle)

    return factory


def assert_alerted(run: Run, rule: str, proc_name: str) -> Alert:
    """`run` raised `rule`, for a process named `proc_name`, with its container's identity."""
    hits = run.of(rule)
    assert hits, f"{run.name}: no {rule!r} alert; got {run.rules()}"
    alert = hits[0]
    assert alert.container_name == run.name
    assert alert.container_id == run.id[:12]
    assert alert.output_fields.get("proc.name") == proc_name, alert.output_fields
    assert alert.output_fields.get("container.id") == run.id[:12]
    assert alert.output_fields.get("container.name") == run.name
    return alert


def assert_quiet(run: Run, rule: str) -> None:
    """The neighbour did not raise `rule`, nor any other: its container's start-up (the
    runtime's set-up, sh as pid 1) is quiet under every default rule."""
    assert not run.of(rule), f"{run.name}: unexpected {rule!r}: {run.of(rule)}"
    assert not run.alerts, f"{run.name}: unexpected alerts {[a.output for a in run.alerts]}"


def output(run: Run) -> dict[str, str]:
    """What the container's `... > /tmp/bst-out` wrote (key=value pairs of bst-helper)."""
    return parse(Path(run.bundle, "rootfs/tmp/bst-out").read_text())


def to_file(command: str) -> list[str]:
    """argv running `command` under sh with its output in /tmp/bst-out (a created container's
    stdout is bastion-runc's, gone by the time the container runs)."""
    return ["sh", "-c", f"{{ {command}; }} > /tmp/bst-out 2>&1"]


# -- the rules ---------------------------------------------------------------------------


def test_shell_spawned_by_exec_but_not_as_entrypoint(
    sensor: Sensor, make: Callable[..., Run]
) -> None:
    rule = "Shell Spawned in Container"
    target = make("exec-shell", ["sh", "-c", f"{HELPER} sleep 30"])
    entry = make("entry-shell", ["sh", "-c", f"{HELPER} pid; {HELPER} pid"])
    with sensor.started(target, entry):
        sensor.runc("exec", target.id, "sh", "-c", "true", check=True)
        sensor.runc("kill", target.id, "KILL", check=True)
        deadline = time.monotonic() + 10
        while sensor.runc.state(entry.id)["status"] != "stopped":
            assert time.monotonic() < deadline
            sensor.pump(0.05)
        sensor.drain(target, entry)
    alert = assert_alerted(target, rule, "sh")
    assert alert.output_fields["proc.cmdline"] == "sh -c true"
    assert len(target.of(rule)) == 1  # the exec, not the entrypoint (vpid 1)
    assert_quiet(entry, rule)


def test_write_below_binary_directory(sensor: Sensor, make: Callable[..., Run]) -> None:
    rule = "Write Below Binary Directory"
    trigger = make("drop-bin", to_file("/bin/touch /usr/bin/bst-dropped"))
    benign = make("write-tmp", to_file("/bin/touch /tmp/bst-note"))
    sensor.run_to_end(trigger, benign)
    assert Path(trigger.bundle, "rootfs/usr/bin/bst-dropped").exists()
    alert = assert_alerted(trigger, rule, "touch")
    assert alert.output_fields["fd.name"] == "/usr/bin/bst-dropped"
    assert_quiet(benign, rule)


def _script(name: str) -> Callable[[Path], None]:
    def prepare(rootfs: Path) -> None:
        path = rootfs / "usr/local/bin" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\necho ran=1\n")
        path.chmod(0o755)

    return prepare


def test_package_manager(sensor: Sensor, make: Callable[..., Run]) -> None:
    rule = "Package Manager in Container"
    trigger = make("apt", to_file("apt-get install -y curl"), prepare=_script("apt-get"))
    benign = make("tool", to_file("bst-build install"), prepare=_script("bst-build"))
    sensor.run_to_end(trigger, benign)
    assert output(trigger) == output(benign) == {"ran": "1"}
    alert = assert_alerted(trigger, rule, "apt-get")
    # A script runs as its interpreter, with the script's path as first argument (Falco's
    # proc.cmdline shows the same: the name comes from the script, the args from sh).
    assert str(alert.output_fields["proc.cmdline"]).endswith("apt-get install -y curl")
    assert_quiet(benign, rule)


def _shadow(rootfs: Path) -> None:
    (rootfs / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")


def test_read_sensitive_file(sensor: Sensor, make: Callable[..., Run]) -> None:
    rule = "Read Sensitive File in Container"
    trigger = make("shadow", to_file("/bin/cat /etc/shadow"), prepare=_shadow)
    benign = make("passwd", to_file("/bin/cat /etc/passwd"), prepare=_shadow)
    sensor.run_to_end(trigger, benign)
    alert = assert_alerted(trigger, rule, "cat")
    assert alert.output_fields["fd.name"] == "/etc/shadow"
    assert_quiet(benign, rule)


#: TEST-NET-3 (RFC 5737): never routed on the internet; here it only exists on the lo of a
#: network namespace the test makes, so the "outbound" connection never leaves the machine.
OUTSIDE = "203.0.113.7"
PORT = 8080


@pytest.fixture
def netns() -> Iterator[str]:
    """A named netns whose lo has 127.0.0.1 and OUTSIDE, with a TCP listener on PORT."""
    name = new_name()
    subprocess.run(["ip", "netns", "add", name], check=True)
    listener: subprocess.Popen[bytes] | None = None
    try:
        for argv in (["addr", "add", f"{OUTSIDE}/32", "dev", "lo"], ["link", "set", "lo", "up"]):
            subprocess.run(["ip", "-n", name, *argv], check=True)
        serve = (
            "import socket\n"
            f"s = socket.create_server(('0.0.0.0', {PORT}))\n"
            "print('ready', flush=True)\n"
            "while True:\n    s.accept()[0].close()\n"
        )
        listener = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, "-S", "-c", serve],
            stdout=subprocess.PIPE,
        )
        assert listener.stdout is not None and listener.stdout.readline() == b"ready\n"
        yield name
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
            if listener.stdout is not None:
                listener.stdout.close()
        subprocess.run(["ip", "netns", "delete", name], check=True)


def _connect(address: str) -> str:
    # The path, not the bare name: busybox sh runs its applets as /proc/self/exe (comm "exe").
    return f"/usr/bin/nc -w 2 {address} {PORT} < /dev/null && echo connected=1"


def test_outbound_connection(sensor: Sensor, make: Callable[..., Run], netns: str) -> None:
    rule = "Unexpected Outbound Connection from Container"
    namespaces = [
        {"type": "network", "path": f"/run/netns/{netns}"} if ns["type"] == "network" else ns
        for ns in default_spec()["linux"]["namespaces"]  # type: ignore[index]
    ]
    joined = {"linux.namespaces": namespaces}
    trigger = make("out", to_file(_connect(OUTSIDE)), **joined)
    benign = make("local", to_file(_connect("127.0.0.1")), **joined)
    sensor.run_to_end(trigger, benign)
    assert output(trigger) == output(benign) == {"connected": "1"}
    alert = assert_alerted(trigger, rule, "nc")
    assert str(alert.output_fields["fd.name"]).endswith(f"->{OUTSIDE}:{PORT}")
    assert_quiet(benign, rule)


def test_privilege_change_to_root(sensor: Sensor, make: Callable[..., Run]) -> None:
    rule = "Privilege Change to Root in Container"

    def setuid_copy(rootfs: Path) -> None:
        copy = rootfs / "usr/bin/bst-suid"
        shutil.copy2(rootfs / HELPER.lstrip("/"), copy)
        os.chown(copy, 0, 0)
        copy.chmod(0o4755)

    as_user = {"process.user": {"uid": USER_UID, "gid": USER_UID}}
    trigger = make(
        "suid",
        to_file("/usr/bin/bst-suid setuid 0"),
        prepare=setuid_copy,
        **{"process.noNewPrivileges": False, **as_user},
    )
    benign = make("user", to_file(f"{HELPER} setuid {USER_UID}"), **as_user)
    sensor.run_to_end(trigger, benign)
    assert output(trigger)["setuid"] == output(benign)["setuid"] == "1"
    assert output(trigger)["euid"] == "0" and output(benign)["euid"] == str(USER_UID)
    alert = assert_alerted(trigger, rule, "bst-suid")
    assert alert.output_fields["evt.type"] == "setuid"
    assert_quiet(benign, rule)


def test_kernel_module_load_attempt(sensor: Sensor, make: Callable[..., Run]) -> None:
    rule = "Kernel Module Loaded from Container"
    trigger = make("module", to_file(f"{HELPER} finit-module"))
    benign = make("devnull", to_file("cat /dev/null"))
    sensor.run_to_end(trigger, benign)
    # EPERM (no CAP_SYS_MODULE), or ENOSYS from a kernel built without modules: either way
    # the attempt is the signal.
    assert output(trigger)["loaded"] == "0"
    alert = assert_alerted(trigger, rule, "bst-helper")
    assert alert.output_fields["evt.type"] == "finit_module"
    assert_quiet(benign, rule)


def test_namespace_change(sensor: Sensor, make: Callable[..., Run]) -> None:
    rule = "Namespace Change in Container"
    trigger = make("userns", to_file(f"{HELPER} unshare user"))
    benign = make("mountns", to_file(f"{HELPER} unshare mount"))
    sensor.run_to_end(trigger, benign)
    assert output(trigger)["unshared"] == "1"
    assert output(benign)["unshared"] == "0"  # no CAP_SYS_ADMIN: refused, so not flagged
    alert = assert_alerted(trigger, rule, "bst-helper")
    assert alert.output_fields["evt.type"] == "unshare"
    assert_quiet(benign, rule)


def test_ptrace_attach(sensor: Sensor, make: Callable[..., Run]) -> None:
    rule = "Ptrace in Container"
    trigger = make("ptrace", to_file(f"{HELPER} ptrace-child"))
    benign = make("fork", to_file(f"{HELPER} fork 1 0"))
    sensor.run_to_end(trigger, benign)
    assert output(trigger)["attached"] == "1"
    alert = assert_alerted(trigger, rule, "bst-helper")
    assert alert.output_fields["evt.arg.request"] == "PTRACE_ATTACH"
    assert_quiet(benign, rule)


def test_fileless_execution(sensor: Sensor, make: Callable[..., Run]) -> None:
    rule = "Fileless Execution in Container"
    trigger = make("memfd", to_file(f"{HELPER} memfd-exec comm"))
    benign = make("disk", to_file(f"{HELPER} comm"))
    sensor.run_to_end(trigger, benign)
    # The kernel names a program run from an fd after the file ("memfd:bst-payload", cut to
    # 15 bytes) since Linux 6.14, after the fd number ("4") before.
    comm = Path(trigger.bundle, "rootfs/tmp/bst-out").read_text().strip()
    assert comm and comm != "bst-helper"
    alert = assert_alerted(trigger, rule, comm)
    assert str(alert.output_fields["proc.exepath"]).startswith("/memfd:bst-payload")
    assert_quiet(benign, rule)


def exec_shm_mounts() -> list[dict[str, Any]]:
    """The default mounts with /dev/shm executable (runc's default mounts it noexec)."""
    mounts: list[dict[str, Any]] = [dict(m) for m in default_spec()["mounts"]]  # type: ignore[attr-defined]
    for mount in mounts:
        if mount["destination"] == "/dev/shm":
            mount["options"] = [o for o in mount["options"] if o != "noexec"]
    return mounts


def test_exec_from_dev_shm(sensor: Sensor, make: Callable[..., Run]) -> None:
    rule = "Execution from /dev/shm in Container"
    mounts = exec_shm_mounts()
    copy = f"cp {HELPER} /dev/shm/bst-drop"
    trigger = make("shm", to_file(f"{copy} && /dev/shm/bst-drop pid"), mounts=mounts)
    benign = make("usr", to_file(f"{copy} && {HELPER} pid"), mounts=mounts)
    sensor.run_to_end(trigger, benign)
    assert "pid" in output(trigger) and "pid" in output(benign)
    alert = assert_alerted(trigger, rule, "bst-drop")
    assert alert.output_fields["proc.exepath"] == "/dev/shm/bst-drop"
    assert_quiet(benign, rule)


def test_the_filter_kept_the_host_out_and_lost_nothing(sensor: Sensor) -> None:
    """Runs last (file order): over the whole module, the cgroup filter passed the containers'
    events only, and the ring never overflowed, so no rule above missed an event."""
    stats = sensor.probe.statistics()
    print(f"\nprobe: {stats}; pipeline: {sensor.pipeline.stats.events} events")
    assert stats.dropped_ring_full == 0
    assert stats.skipped_cgroup > 0  # the host (this pytest, bastion-runc) was running too
    assert sensor.pipeline.stats.events == stats.read > 0
    strays = [a for a in sensor.alerts if a.container_name not in sensor.by_name]
    assert not strays  # every alert names one of the test containers


# -- the runtime's own set-up ------------------------------------------------------------------

CGROUP2_ROOT = (
    "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else "/sys/fs/cgroup"
)


@contextlib.contextmanager
def seen_from_create(sensor: Sensor, *runs: Run) -> Iterator[None]:
    """Let `runs`' cgroups through the probe before `create`, so that the runtime's whole
    set-up (namespaces joined, mounts, hooks) is seen: the cgroup v2 directory is made first
    (the runtime takes a cgroup that exists) and its inode is the cgroup id. The runtime leaves
    a cgroup it did not make in place, so every controller's directory is removed here."""
    paths: list[str] = []
    try:
        for run in runs:
            config = json.loads(Path(run.bundle, "config.json").read_text())
            path = config["linux"]["cgroupsPath"].lstrip("/")
            paths.append(path)
            made = os.path.join(CGROUP2_ROOT, path)
            os.makedirs(made, exist_ok=True)
            run.cgroup_id = os.stat(made).st_ino
            sensor.cgroups.add(run.cgroup_id)
        sensor.probe.set_cgroups(sensor.cgroups)
        yield
    finally:
        for path in paths:
            for controller in os.listdir("/sys/fs/cgroup"):
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.join("/sys/fs/cgroup", controller, path))
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join("/sys/fs/cgroup", path))


def unusual_bundle(
    make: Callable[..., Run], label: str, args: list[str], net_ns: str, shared: Path
) -> Run:
    """A bundle like OCI runtime-tools' validation ones: createContainer and startContainer
    hooks (shell scripts), the network namespace joined by path, a bind mount."""
    spec: dict[str, Any] = dict(default_spec())
    namespaces = [ns for ns in spec["linux"]["namespaces"] if ns["type"] != "network"]
    namespaces.append({"type": "network", "path": net_ns})
    mounts = [
        *spec["mounts"],
        {
            "destination": "/mnt/shared",
            "type": "bind",
            "source": str(shared),
            "options": ["rbind", "ro"],
        },
    ]
    hooks = {
        "createContainer": [
            {"path": "/bin/sh", "args": ["sh", "-c", "cat > /dev/null; mount >/dev/null"]}
        ],
        "startContainer": [
            {"path": "/bin/sh", "args": ["sh", "-c", "cat > /dev/null; echo started > /tmp/hook"]}
        ],
    }
    return make(label, args, linux__namespaces=namespaces, mounts=mounts, hooks=hooks)


def test_runtime_set_up_of_unusual_bundles_raises_nothing_until_the_process_misbehaves(
    sensor: Sensor, make: Callable[..., Run], tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    holder = make("netns-holder", ["sleep", "60"])
    with sensor.started(holder):
        net_ns = f"/proc/{holder.pid}/ns/net"
        quiet = unusual_bundle(make, "setup-quiet", to_file(f"{HELPER} pid"), net_ns, shared)
        bad = unusual_bundle(make, "setup-bad", to_file(f"{HELPER} unshare user"), net_ns, shared)
        with seen_from_create(sensor, quiet, bad):
            sensor.run_to_end(quiet, bad)
        sensor.runc("kill", holder.id, "KILL", check=False)
    assert Path(quiet.bundle, "rootfs/tmp/hook").read_text() == "started\n"  # hooks ran
    assert output(bad)["unshared"] == "1"
    # the set-up was seen: namespaces joined, mounts, the hooks' shells (all from the cgroup)
    for run in (quiet, bad):
        for kind in ("setns", "mount", "execve"):
            assert sensor.seen[run.cgroup_id, kind] > 0, (run.name, kind)
    assert quiet.alerts == [], [a.output for a in quiet.alerts]
    assert holder.alerts == [], [a.output for a in holder.alerts]
    assert bad.rules() == ["Namespace Change in Container"]
    alert = assert_alerted(bad, "Namespace Change in Container", "bst-helper")
    assert alert.output_fields["evt.type"] == "unshare"
