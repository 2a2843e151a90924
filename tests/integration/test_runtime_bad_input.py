"""Bad input to bastion-runc: a one-line error naming the reference and where, and no debris.

Each bad config.json must make `create` fail before it leaves anything on the host: no state
directory, no cgroup, no process, no mount. Misuse of the lifecycle (duplicate id, start or
delete in the wrong status) fails with its reference and leaves the existing container as it was.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

from bastion_testing.bundle import DELETE, read_config, write_config
from bastion_testing.helper import PATH_IN_ROOTFS as HELPER
from bastion_testing.runc import cgroup_path, error_line, state_entries, wait_no_leftovers

if TYPE_CHECKING:
    from bastion_testing.plugin import BundleFactory
    from bastion_testing.runc import Runc

pytestmark = pytest.mark.privileged

SLEEP = [HELPER, "sleep", "30"]

# (edits to the bundle's config, the error's reference, where it must point)
BAD_CONFIGS: dict[str, tuple[dict[str, Any], str, str]] = {
    "no-ociVersion": ({"ociVersion": DELETE}, "spec-missing-field", "ociVersion"),
    "no-process-args": ({"process.args": DELETE}, "spec-missing-field", "process.args"),
    "unknown-capability": (
        {"process.capabilities.bounding": ["CAP_CHOWN", "CAP_FOO"]},
        "spec-invalid-value",
        "process.capabilities.bounding[1]",
    ),
    "unknown-rlimit": (
        {
            "process.rlimits": [
                {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024},
                {"type": "RLIMIT_FOO", "soft": 1, "hard": 1},
            ]
        },
        "spec-invalid-value",
        "process.rlimits[1].type",
    ),
    "relative-cwd": ({"process.cwd": "tmp"}, "spec-invalid-value", "process.cwd"),
    "uid-is-a-string": ({"process.user.uid": "0"}, "spec-wrong-type", "process.user.uid"),
}


def _assert_refused(result: Any, reference: str, where: str) -> None:
    assert result.returncode not in (0, None), result
    assert result.returncode > 0, f"killed by a signal: {result}"
    line = error_line(result.stderr)
    assert f"error[{reference}]" in line, line
    assert where in line, line


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_is_refused_cleanly(
    runc: Runc, bundle_factory: BundleFactory, container_id: str, case: str
) -> None:
    edits, reference, where = BAD_CONFIGS[case]
    bundle = bundle_factory(args=SLEEP, **edits)
    _assert_refused(runc("create", "--bundle", bundle, container_id), reference, where)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []
    assert state_entries(runc.root) == []


def test_config_that_is_not_json(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=SLEEP)
    cgroup = cgroup_path(bundle)
    config = os.path.join(bundle, "config.json")
    with open(config, "w") as f:
        f.write('{"ociVersion": "1.0.2",\n  "process": nope}\n')
    result = runc("create", "--bundle", bundle, container_id)
    # The position is the file's line:column, where JSON has no path yet.
    _assert_refused(result, "spec-not-json", f"{config}:2:")
    assert wait_no_leftovers(runc.root, container_id, bundle, cgroup) == []
    assert state_entries(runc.root) == []


def test_namespace_path_of_the_wrong_type(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    # runtime-spec config-linux "Namespaces": the runtime MUST error if the path is not a
    # namespace of the given type. `create` checks it before making anything, and exits with the
    # config-error status (5) like every other bad input.
    bundle = bundle_factory(args=SLEEP)
    config = read_config(bundle)
    namespaces = config["linux"]["namespaces"]
    index = next(i for i, ns in enumerate(namespaces) if ns["type"] == "network")
    namespaces[index]["path"] = "/proc/self/ns/uts"
    write_config(bundle, config)
    result = runc("create", "--bundle", bundle, container_id)
    _assert_refused(result, "namespace-path-wrong-type", f"linux.namespaces[{index}].path")
    assert result.returncode == 5
    assert wait_no_leftovers(runc.root, container_id, bundle) == []
    assert state_entries(runc.root) == []


def test_missing_bundle(runc: Runc, tmp_path: Any, container_id: str) -> None:
    missing = os.path.join(str(tmp_path), "no-such-bundle")
    result = runc("create", "--bundle", missing, container_id)
    # The one reader of config.json (oci.read_config): runc's "no such file" is a not-found.
    _assert_refused(result, "spec-not-found", os.path.join(missing, "config.json"))
    assert result.returncode == 3
    assert state_entries(runc.root) == []


def test_duplicate_id_leaves_the_first_container_alone(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    first = bundle_factory(args=SLEEP)
    second = bundle_factory(args=SLEEP)
    runc("create", "--bundle", first, container_id, check=True)
    before = runc.state(container_id)
    result = runc("create", "--bundle", second, container_id)
    _assert_refused(result, "container-exists", container_id)
    after = runc.state(container_id)
    assert after == before  # same status, pid, bundle
    assert after["status"] == "created"
    assert os.path.exists(f"/proc/{after['pid']}")
    # The failed create made nothing for the second bundle (its own cgroup in particular).
    assert wait_no_leftovers(runc.root, "not-this-id", second) == []
    runc("start", container_id, check=True)
    assert runc.wait_status(container_id, "running")["pid"] == before["pid"]
    runc("delete", "--force", container_id, check=True)
    assert wait_no_leftovers(runc.root, container_id, first) == []


def test_start_twice_and_start_stopped_fail(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=SLEEP)
    runc("create", "--bundle", bundle, container_id, check=True)
    runc("start", container_id, check=True)
    running = runc.wait_status(container_id, "running")
    _assert_refused(runc("start", container_id), "invalid-state", container_id)
    assert runc.state(container_id) == running
    runc("kill", container_id, "KILL", check=True)
    runc.wait_status(container_id, "stopped")
    _assert_refused(runc("start", container_id), "invalid-state", container_id)
    assert runc.state(container_id)["status"] == "stopped"
    runc("delete", container_id, check=True)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


def test_delete_running_without_force_fails(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=SLEEP)
    runc("run", "--detach", "--bundle", bundle, container_id, check=True)
    running = runc.wait_status(container_id, "running")
    _assert_refused(runc("delete", container_id), "invalid-state", container_id)
    assert runc.state(container_id) == running
    assert os.path.exists(f"/proc/{running['pid']}")
    runc("delete", "--force", container_id, check=True)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


def test_terminal_without_console_socket_is_refused(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    edits: dict[str, Any] = {"process.terminal": True}
    bundle = bundle_factory(args=SLEEP, **edits)
    result = runc("create", "--bundle", bundle, container_id)
    _assert_refused(result, "console-socket-required", "process.terminal")
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


@pytest.mark.parametrize(
    ("edit", "reference", "where"),
    [
        (
            {"process.apparmorProfile": "bst-profile"},
            "apparmor-unavailable",
            "process.apparmorProfile",
        ),
        (
            {"process.selinuxLabel": "system_u:system_r:container_t:s0"},
            "selinux-unsupported",
            "process.selinuxLabel",
        ),
    ],
)
def test_confinement_this_host_cannot_enforce_is_refused(
    runc: Runc,
    bundle_factory: BundleFactory,
    container_id: str,
    edit: dict[str, Any],
    reference: str,
    where: str,
) -> None:
    if reference == "apparmor-unavailable" and os.path.isdir("/sys/kernel/security/apparmor"):
        pytest.skip("this host has AppArmor")
    bundle = bundle_factory(args=SLEEP, **edit)
    _assert_refused(runc("create", "--bundle", bundle, container_id), reference, where)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


def test_a_damaged_state_file_is_named_and_delete_force_removes_it(
    runc: Runc, bundle_factory: BundleFactory, container_id: str
) -> None:
    bundle = bundle_factory(args=SLEEP)
    runc("create", "--bundle", bundle, container_id, check=True)
    state_file = os.path.join(runc.root, container_id, "state.json")
    with open(state_file, "rb") as f:
        whole = f.read()
    try:
        with open(state_file, "wb") as f:
            f.write(whole[: len(whole) // 2])  # cut short
        result = runc("state", container_id)
        assert result.returncode == 1, result
        line = error_line(result.stderr)
        assert "state-corrupt" in line and state_file in line and "delete --force" in line
        assert runc("delete", container_id).returncode == 1
        assert os.path.exists(state_file)
    finally:
        with open(state_file, "wb") as f:
            f.write(whole)
    runc("delete", "--force", container_id, check=True)
    assert wait_no_leftovers(runc.root, container_id, bundle) == []


def test_delete_force_removes_a_state_directory_it_cannot_read(
    runc: Runc, container_id: str
) -> None:
    directory = os.path.join(runc.root, container_id)
    os.mkdir(directory)
    with open(os.path.join(directory, "state.json"), "wb") as f:
        f.write(b'{"id": "')
    runc("delete", "--force", container_id, check=True)
    assert not os.path.exists(directory)


#: Calls the library's `create` in a fresh interpreter (create forks and makes its caller a
#: subreaper: not something to do to pytest) and prints the error's class, reference and exit code.
CREATE_SCRIPT = """
import sys
from bastion.errors import BastionError
from bastion.runtime.create import CreateOptions, create
try:
    create(CreateOptions(id=sys.argv[1], bundle=sys.argv[2], root=sys.argv[3]))
except BastionError as exc:
    print(type(exc).__name__, exc.reference, exc.exit_code, exc.where)
"""


@pytest.mark.parametrize(
    ("edits", "error_class", "reference", "where"),
    [
        # A missing cwd is made (as runc does); a file cannot be entered.
        ({"process.cwd": "/etc/passwd"}, "RuntimeFailure", "runtime-failure", "process.cwd"),
        (
            {"hooks.createContainer": [{"path": "/bin/false"}]},
            "HookFailed",
            "hook-failed",
            "hooks.createContainer[0]",
        ),
        (
            {"mounts.-1": {"destination": "/mnt", "type": "bind", "source": "/no/such/src"}},
            "RuntimeFailure",
            "runtime-failure",
            "mounts[",
        ),
    ],
    ids=["bad-cwd", "createContainer-hook", "bind-source-missing"],
)
def test_an_error_in_the_init_reaches_the_caller_as_its_own_class(
    runc: Runc,
    bundle_factory: BundleFactory,
    container_id: str,
    edits: dict[str, Any],
    error_class: str,
    reference: str,
    where: str,
) -> None:
    import subprocess
    import sys
    import tempfile

    bundle = bundle_factory(args=SLEEP, **{k.replace(".", "__"): v for k, v in edits.items()})
    # A file, not a pipe: were create to succeed, the container would keep a pipe open.
    with tempfile.TemporaryFile("w+") as out:
        argv = [sys.executable, "-c", CREATE_SCRIPT, container_id, bundle, runc.root]
        subprocess.run(argv, stdout=out, stderr=out, timeout=60, check=False)
        out.seek(0)
        printed = out.read()
    name, ref, code, at = printed.split(maxsplit=3)
    assert (name, ref, int(code)) == (error_class, reference, 1), printed
    assert at.startswith(where)
    # bastion-runc reports it with the class's reference and exit code, and leaves nothing.
    cli = runc("create", "--bundle", bundle, container_id)
    assert cli.returncode == 1
    assert f"error[{reference}]" in error_line(cli.stderr) and where in cli.stderr
    assert wait_no_leftovers(runc.root, container_id, bundle) == []
