"""The compiled init's plan (bastion/runtime/init/plan.py): its vocabulary is the C side's, it
is built only where the compiled init can do everything, and a failed step is worded as the
Python init words it. What the plan does to a container is tested by running it
(tests/integration/test_runtime_compiled_init.py)."""

from __future__ import annotations

import errno
import json
import re
from pathlib import Path
from typing import Any

import pytest

from bastion.oci.decode import decode_spec
from bastion.oci.defaults import default_spec
from bastion.runtime import namespaces
from bastion.runtime.cgroups.attach import Recorded
from bastion.runtime.cgroups.errors import CgroupFileError
from bastion.runtime.errors import InitFailed, RuntimeFailure
from bastion.runtime.init import InitConfig
from bastion.runtime.init import plan as init_plan
from bastion.runtime.init.plan import Kind, Op, Plan

C_SOURCE = Path(init_plan.__file__).parents[2] / "_sys" / "_initexec.c"


def _c_enum(prefix: str) -> dict[str, int]:
    text = C_SOURCE.read_text()
    return {name: int(value) for name, value in re.findall(rf"\b{prefix}_(\w+) = (\d+),", text)}


def test_the_step_codes_and_failure_kinds_are_the_c_sides() -> None:
    ops = {k: v for k, v in vars(Op).items() if k.isupper()}
    kinds = {k: v for k, v in vars(Kind).items() if k.isupper()}
    assert _c_enum("OP") == ops
    assert _c_enum("KIND") == kinds


def _config(tmp_path: Path, **changes: Any) -> InitConfig:
    doc: Any = default_spec()
    doc["process"]["terminal"] = False
    doc["process"]["args"] = ["true"]
    for path, value in changes.items():
        node: Any = doc
        *parents, leaf = path.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    spec = decode_spec(json.dumps(doc))
    assert spec.linux is not None
    return InitConfig(
        spec=spec,
        rootfs=str(tmp_path),
        cgroup_path="/bastion-test/plan",
        fifo_fds=(40, 41),
        no_pivot=False,
        preserve_fds=0,
        namespaces=namespaces.plan(spec.linux),
        handshake=False,
    )


def _build(cfg: InitConfig, monkeypatch: pytest.MonkeyPatch) -> Plan | None:
    monkeypatch.delenv("BASTION_TEST_NO_NATIVE", raising=False)
    monkeypatch.delenv("BASTION_TEST_CGROUP_ATTACH", raising=False)
    cgroup = Recorded(["/sys/fs/cgroup/pids/bastion-test/plan"], "/sys/fs/cgroup/unified/x")
    return init_plan.build(cfg, cgroup, 0)


def _first_step(plan: Plan) -> int:
    return int.from_bytes(bytes(plan.blob)[:8], "little")


def test_a_plain_config_gets_a_plan_that_starts_in_the_cgroup_and_ends_in_exec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _build(_config(tmp_path), monkeypatch)
    if plan is None:
        pytest.skip("this process runs in a user namespace: the plan leaves it to Python")
    blob = bytes(plan.blob)
    assert _first_step(plan) == Op.WRITE
    assert b"/sys/fs/cgroup/pids/bastion-test/plan/tasks\0" in blob
    assert b"/sys/fs/cgroup/unified/x/cgroup.procs\0" in blob
    # the exec step last: its argv ("true") then its environment, no HOME (looked up inside)
    assert blob.endswith(b"TERM=xterm\0")
    assert b"HOME=" not in blob


@pytest.mark.parametrize(
    "changes",
    [
        {"process__terminal": True},
        {"hooks": {"prestart": [{"path": "/bin/true"}]}},
        # a filter with flags: only libseccomp loads it
        {
            "linux__seccomp": {
                "defaultAction": "SCMP_ACT_ALLOW",
                "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            }
        },
        {"mounts": [{"destination": "/t", "type": "tmpfs", "options": ["tmpcopyup"]}]},
    ],
)
def test_what_the_compiled_init_does_not_do_is_left_to_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, changes: dict[str, Any]
) -> None:
    cfg = _config(tmp_path, **changes)
    if changes.get("hooks"):
        cfg = InitConfig(**{**vars_of(cfg), "handshake": True})
    assert _build(cfg, monkeypatch) is None


def vars_of(cfg: InitConfig) -> dict[str, Any]:
    from bastion._record import fields

    return {name: getattr(cfg, name) for name in fields(cfg)}


def test_no_plan_without_the_compiled_module_or_with_a_forced_attach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config(tmp_path)
    cgroup = Recorded([], None)
    monkeypatch.setenv("BASTION_TEST_NO_NATIVE", "1")
    assert init_plan.build(cfg, cgroup, 0) is None
    monkeypatch.delenv("BASTION_TEST_NO_NATIVE")
    monkeypatch.setenv("BASTION_TEST_CGROUP_ATTACH", "procs")
    assert init_plan.build(cfg, cgroup, 0) is None


def _failure(plan: Plan, step: int, kind: int, err: int, detail: int = -1) -> Any:
    return plan.explain({"op": step, "kind": kind, "errno": err, "detail": detail})


def test_failures_are_worded_as_the_python_init_words_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config(
        tmp_path,
        linux__sysctl={"net.ipv4.ip_forward": "1"},
        process__rlimits=[{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}],
    )
    plan = _build(cfg, monkeypatch)
    if plan is None:
        pytest.skip("this process runs in a user namespace: the plan leaves it to Python")
    # step 0 joins the v1 cgroup: its fallback file failed
    joined = _failure(plan, 0, Kind.FALLBACK, errno.ENOENT)
    assert isinstance(joined, CgroupFileError)
    assert joined.where == "/sys/fs/cgroup/pids/bastion-test/plan/cgroup.procs"
    words = [str(_failure(plan, i, Kind.SYSCALL, errno.EINVAL)) for i in range(len(plan._explain))]
    sysctl = next(w for w in words if "sysctl" in w)
    assert "cannot set sysctl net.ipv4.ip_forward='1': Invalid argument" in sysctl
    rlimit = next(i for i, w in enumerate(words) if "RLIMIT_NOFILE" in w)
    exc = _failure(plan, rlimit, Kind.SYSCALL, errno.EINVAL)
    assert isinstance(exc, RuntimeFailure)
    assert exc.message == (
        "cannot set RLIMIT_NOFILE to soft=10 hard=5: "
        "[Errno 22] setrlimit(RLIMIT_NOFILE): Invalid argument"
    )
    assert exc.where == "process.rlimits[0]" and exc.hint is not None
    found = [_failure(plan, i, Kind.NOT_IN_PATH, errno.ENOENT) for i in range(len(words))]
    missing = next(e for e in found if "executable file not found" in str(e))
    assert missing.message == 'exec: "true": executable file not found in $PATH'
    assert missing.reference == "executable-not-found"


def test_a_damaged_report_is_an_init_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = Plan()
    plan.add(Op.SETSID)
    assert isinstance(plan.explain({"op": "x"}), InitFailed)
    assert isinstance(_failure(plan, 5, Kind.SYSCALL, 1), InitFailed)
    assert isinstance(_failure(plan, 0, Kind.PLAN, 22), InitFailed)
    raw = _failure(plan, 0, Kind.SYSCALL, errno.EPERM)
    assert isinstance(raw, InitFailed)
    assert raw.message == "[Errno 1] setsid: Operation not permitted"


def _spawn(plan: Plan) -> tuple[int, bytes]:
    """Run `plan` in a child made by `_native.spawn_init` with no new namespace (no privilege
    needed): (its exit status, what it sent on the channel)."""
    import os
    import socket

    spawn = init_plan.compiled_spawn()
    if spawn is None:
        pytest.skip("bastion/_sys/_native is not built (scripts/setup builds it)")
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with parent, child:
        pid, _, _ = spawn(plan.blob, 0, -1, child.fileno(), False)
        child.close()
        _, status = os.waitpid(pid, 0)
        parent.settimeout(10)
        try:
            sent = parent.recv(4096)
        except (TimeoutError, OSError):
            sent = b""
    return os.waitstatus_to_exitcode(status), sent


def test_the_compiled_init_runs_its_steps_and_execs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    plan = Plan()
    plan.add(Op.FIND_EXEC, "sh", "", "/usr/bin:/bin")
    plan.add(Op.READY)
    script = f"echo -n $A > {marker}"
    plan.add(Op.EXEC, 3, "sh", "-c", script, 1, "A=from-the-plan")
    code, sent = _spawn(plan)
    assert (code, sent) == (0, b'{"type":"ready"}')
    assert marker.read_text() == "from-the-plan"


def test_a_failed_step_is_reported_by_number_kind_and_errno(tmp_path: Path) -> None:
    plan = Plan()
    plan.add(Op.UMASK, 0o22)
    plan.add(Op.CHDIR, str(tmp_path / "missing"))
    code, sent = _spawn(plan)
    assert code == 1
    assert json.loads(sent) == {
        "type": "plan-error",
        "op": 1,
        "kind": Kind.SYSCALL,
        "errno": errno.ENOENT,
        "detail": -1,
    }
