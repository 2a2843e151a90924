"""Docker's merge of an image's config with the `run` flags (moby daemon/create.go,
container.go, oci_linux.go): the table of cases `bastion.engine.spec.merge` must get right."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.engine.errors import InvalidOptionError
from bastion.engine.spec import DEFAULT_PATH, ContainerOptions, ImageFacts, build, merge

ID = "0123456789abcdef" * 4
PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "bst:x:1000:1000:test:/home/bst:/bin/sh\n"
    "daemon:x:2:2::/usr/sbin:/bin/false\n"
)
GROUP = "root:x:0:\nbst:x:1000:\naudio:x:29:bst,daemon\nvideo:x:44:bst\nstaff:x:50:\n"

# (image entrypoint, image cmd, --entrypoint, command after the image) -> argv
ARGV_CASES = [
    (None, ("sh",), None, None, ("sh",)),
    (None, ("sh",), None, ("echo", "hi"), ("echo", "hi")),
    (("/ep",), ("a", "b"), None, None, ("/ep", "a", "b")),
    (("/ep",), ("a", "b"), None, ("c",), ("/ep", "c")),
    (("/ep",), None, None, None, ("/ep",)),
    # --entrypoint drops the image's Cmd
    (("/ep",), ("a",), "/other", None, ("/other",)),
    (None, ("a",), "/other", ("x", "y"), ("/other", "x", "y")),
    # --entrypoint "" clears the entrypoint (and the image's Cmd)
    (("/ep",), ("a",), "", ("echo", "x"), ("echo", "x")),
    # an image's empty Cmd is not "absent", but gives nothing either
    (("/ep",), (), None, None, ("/ep",)),
]


@pytest.mark.parametrize(("entrypoint", "cmd", "flag", "command", "argv"), ARGV_CASES)
def test_entrypoint_and_cmd(
    entrypoint: tuple[str, ...] | None,
    cmd: tuple[str, ...] | None,
    flag: str | None,
    command: tuple[str, ...] | None,
    argv: tuple[str, ...],
) -> None:
    image = ImageFacts(entrypoint=entrypoint, cmd=cmd, passwd=PASSWD, group=GROUP)
    options = ContainerOptions(entrypoint=flag, command=command)
    assert merge(image, options, ID).args == argv


@pytest.mark.parametrize(
    ("entrypoint", "cmd", "flag"), [(None, None, None), (("/ep",), ("a",), ""), (None, (), None)]
)
def test_no_command_is_an_error(
    entrypoint: tuple[str, ...] | None, cmd: tuple[str, ...] | None, flag: str | None
) -> None:
    image = ImageFacts(entrypoint=entrypoint, cmd=cmd)
    with pytest.raises(InvalidOptionError) as caught:
        merge(image, ContainerOptions(entrypoint=flag), ID)
    assert caught.value.reference == "engine-invalid-option"
    assert caught.value.exit_code == 125


def env_of(image_env: tuple[str, ...], flags: tuple[str, ...], **kw: str) -> tuple[str, ...]:
    image = ImageFacts(env=image_env, cmd=("sh",), passwd=PASSWD, group=GROUP)
    return merge(image, ContainerOptions(env=flags, **kw), ID).env  # type: ignore[arg-type]


def test_env_defaults_path_hostname_home() -> None:
    assert env_of((), ()) == (DEFAULT_PATH, f"HOSTNAME={ID[:12]}", "HOME=/root")


def test_env_image_path_kept_and_flag_replaces_in_place() -> None:
    env = env_of(("PATH=/x", "A=1", "B=2"), ("A=9", "C=3"))
    assert env == (f"HOSTNAME={ID[:12]}", "PATH=/x", "A=9", "B=2", "C=3", "HOME=/root")


def test_env_flag_without_value_copies_the_callers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BST_SET", "from-host")
    monkeypatch.delenv("BST_UNSET", raising=False)
    env = env_of((), ("BST_SET", "BST_UNSET"))
    assert "BST_SET=from-host" in env
    assert not any(e.startswith("BST_UNSET") for e in env)


def test_env_hostname_and_home_from_flags_win() -> None:
    env = env_of((), ("HOSTNAME=mine", "HOME=/h"))
    assert env == (DEFAULT_PATH, "HOSTNAME=mine", "HOME=/h")


def test_env_later_flag_wins() -> None:
    assert "A=2" in env_of(("A=0",), ("A=1", "A=2"))


def test_home_follows_the_user() -> None:
    assert env_of((), (), user="bst")[-1] == "HOME=/home/bst"
    assert env_of((), (), user="4242")[-1] == "HOME=/"


@pytest.mark.parametrize(
    ("image_user", "flag", "expected"),
    [
        ("", None, (0, 0, ())),
        ("bst", None, (1000, 1000, (29, 44))),
        ("bst", "root", (0, 0, ())),
        ("", "1000", (1000, 1000, (29, 44))),
        ("", "4242", (4242, 0, ())),
        ("", "4242:50", (4242, 50, ())),
        ("", "bst:staff", (1000, 50, ())),
        ("daemon", None, (2, 2, (29,))),
    ],
)
def test_user(
    image_user: str, flag: str | None, expected: tuple[int, int, tuple[int, ...]]
) -> None:
    image = ImageFacts(cmd=("sh",), user=image_user, passwd=PASSWD, group=GROUP)
    process = merge(image, ContainerOptions(user=flag), ID)
    assert (process.uid, process.gid, process.additional_gids) == expected


@pytest.mark.parametrize("user", ["nobody", "bst:nogroup"])
def test_unknown_user_or_group(user: str) -> None:
    image = ImageFacts(cmd=("sh",), passwd=PASSWD, group=GROUP)
    with pytest.raises(InvalidOptionError):
        merge(image, ContainerOptions(user=user), ID)


@pytest.mark.parametrize(
    ("image_dir", "flag", "expected"),
    [("", None, "/"), ("/srv", None, "/srv"), ("/srv", "/tmp", "/tmp"), ("", "/w", "/w")],
)
def test_working_dir(image_dir: str, flag: str | None, expected: str) -> None:
    image = ImageFacts(cmd=("sh",), working_dir=image_dir)
    assert merge(image, ContainerOptions(workdir=flag), ID).cwd == expected


def test_relative_working_dir_is_refused() -> None:
    with pytest.raises(InvalidOptionError):
        merge(ImageFacts(cmd=("sh",)), ContainerOptions(workdir="rel"), ID)


def test_hostname() -> None:
    image = ImageFacts(cmd=("sh",))
    assert merge(image, ContainerOptions(), ID).hostname == ID[:12]
    assert merge(image, ContainerOptions(hostname="box"), ID).hostname == "box"


def _spec(options: ContainerOptions) -> dict[str, object]:
    process = merge(ImageFacts(cmd=("sh",)), options, ID)
    return build(
        process,
        options,
        rootfs="/r",
        cgroup_path="/bastion/x",
        annotations={"bastion.name": "n"},
        etc_files={"/etc/hostname": "/c/hostname"},
    )


def test_spec_docker_defaults() -> None:
    from bastion.runtime.seccomp_profile import DOCKER_DEFAULT_CAPABILITIES

    spec: dict[str, Any] = _spec(ContainerOptions())
    caps = spec["process"]["capabilities"]
    assert set(caps["bounding"]) == set(DOCKER_DEFAULT_CAPABILITIES)
    assert caps["effective"] == caps["bounding"] == caps["permitted"]
    assert "CAP_SYS_ADMIN" not in caps["bounding"]
    assert spec["process"]["noNewPrivileges"] is False
    seccomp = spec["linux"]["seccomp"]
    assert seccomp["defaultAction"] == "SCMP_ACT_ERRNO"
    allowed = {n for rule in seccomp["syscalls"] for n in rule["names"]}
    assert "read" in allowed and "kexec_load" not in allowed
    kinds = [ns["type"] for ns in spec["linux"]["namespaces"]]
    assert "network" in kinds and "pid" in kinds
    assert "/sys/devices/virtual/powercap" in spec["linux"]["maskedPaths"]
    assert {
        "destination": "/etc/hostname",
        "type": "bind",
        "source": "/c/hostname",
        "options": ["rbind", "rprivate"],
    } in spec["mounts"]
    assert "memory" not in spec["linux"]["resources"]


def test_spec_limits_and_host_network() -> None:
    spec: dict[str, Any] = _spec(ContainerOptions(memory=64 << 20, pids_limit=50, network="host"))
    resources = spec["linux"]["resources"]
    # Docker: swap defaults to the memory limit again (limit x 2 in runtime-spec terms)
    assert resources["memory"] == {"limit": 64 << 20, "swap": 128 << 20}
    assert resources["pids"] == {"limit": 50}
    assert "network" not in [ns["type"] for ns in spec["linux"]["namespaces"]]
