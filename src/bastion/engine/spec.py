"""config.json for a container made from an image: the image config merged with the `run` flags
as Docker merges them (moby daemon/create.go, container.go and oci_linux.go).

- Command: `--entrypoint` replaces the image's Entrypoint and drops its Cmd (an empty
  `--entrypoint ""` clears both); arguments after the image replace Cmd. The process runs
  Entrypoint + Cmd; nothing left is an error ("no command specified").
- Env: the image's, then each `-e` (by name: a later one replaces an earlier one in place, new
  names are appended; `-e NAME` copies the caller's value and is dropped if it has none), after
  `PATH` (when neither sets it) and `HOSTNAME`; `HOME` from the user's passwd entry when unset.
- WorkingDir: `-w`, else the image's, else "/"; it must be absolute.
- User: `-u`, else the image's, else root; `name`, `uid`, `name:group`, `uid:gid`, resolved in
  the image's /etc/passwd and /etc/group (a number absent from them is used as is, with gid 0);
  supplementary groups are the user's memberships in /etc/group.
- Hostname: `-h`, else the first 12 characters of the id (the host's name with
  `--network host`). Capabilities: Docker's default set; seccomp: bastion's default profile
  (Docker's, for that set); masked and read-only paths: Docker's lists. The HostConfig flags
  (capabilities, seccomp, limits, mounts, --init...) change them in `host_config.apply`.
"""

from __future__ import annotations

import os

from bastion._record import record
from bastion.engine.errors import InvalidOptionError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# moby oci/defaults.go
_MASKED_PATHS = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
_READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


@record
class ContainerOptions:
    """The `create`/`run` flags the engine knows. `command` is what follows the image (None when
    nothing does); `entrypoint` is `--entrypoint` (None when not given, "" to clear it);
    `memory` and `memory_swap` are bytes (-1: unlimited swap); `detach` with `auto_remove` has
    the monitor remove the container when it ends (a foreground `run --rm` removes it itself).
    `volumes`, `mounts`, `tmpfs`, `volumes_from`, `security_opt` and `ulimits` are the values
    of `-v`, `--mount`, `--tmpfs`, `--volumes-from`, `--security-opt` and `--ulimit` as
    Docker's CLI takes them; `tty`
    gives it a terminal, `interactive` an open stdin (`-t`, `-i`); `restart` is `--restart`
    (engine/restart.py)."""

    command: tuple[str, ...] | None = None
    entrypoint: str | None = None
    # the words after the first of an Entrypoint given as an array (the API's); they run
    # before the command and show in the container's Config.Entrypoint
    entrypoint_args: tuple[str, ...] = ()
    stop_signal: str | None = None  # `--stop-signal` (a name or a number), over the image's
    env: tuple[str, ...] = ()
    workdir: str | None = None
    user: str | None = None
    hostname: str | None = None
    memory: int | None = None
    pids_limit: int | None = None
    network: str = "none"
    ip: str | None = None
    network_aliases: tuple[str, ...] = ()
    publish: tuple[str, ...] = ()
    publish_all: bool = False
    labels: dict[str, str] = {}  # noqa: RUF012 (a record copies it for each instance)
    name: str | None = None
    auto_remove: bool = False
    detach: bool = False
    # HostConfig (engine/host_config.py, engine/mount_flags.py): the flags' own spellings
    volumes: tuple[str, ...] = ()
    mounts: tuple[str, ...] = ()
    tmpfs: tuple[str, ...] = ()
    volumes_from: tuple[str, ...] = ()
    read_only: bool = False
    memory_swap: int | None = None
    cpus: float | None = None
    cpu_shares: int | None = None
    cpuset_cpus: str | None = None
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    security_opt: tuple[str, ...] = ()
    ulimits: tuple[str, ...] = ()
    init: bool = False
    tty: bool = False
    interactive: bool = False
    restart: str = "no"
    #: the log's size limit in bytes (`--log-opt max-size`; conmon's `--log-size-max`)
    log_size_max: int | None = None
    #: Docker's `Config.Healthcheck` asked for (the `--health-*` flags'; engine/health_config.py),
    #: merged over the image's at create; None: the image's
    healthcheck: dict[str, Any] | None = None


@record
class ImageFacts:
    """What the merge reads from the image: its config's fields and its /etc/passwd and
    /etc/group (text, "" when absent)."""

    env: tuple[str, ...] = ()
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    working_dir: str = ""
    user: str = ""
    labels: dict[str, str] = {}  # noqa: RUF012 (a record copies it for each instance)
    passwd: str = ""
    group: str = ""


@record
class Process:
    """The merged process: argv, env, cwd, uid, gid, supplementary gids."""

    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    hostname: str


def command_parts(
    image_entrypoint: tuple[str, ...] | None,
    image_cmd: tuple[str, ...] | None,
    options: ContainerOptions,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The container's (Entrypoint, Cmd), as Docker keeps them in its config: `--entrypoint`
    replaces the image's and drops the image's Cmd."""
    if options.entrypoint is not None:
        first = (options.entrypoint,) if options.entrypoint else ()
        return first + options.entrypoint_args, options.command or ()
    cmd = options.command if options.command is not None else (image_cmd or ())
    return image_entrypoint or (), cmd


def merge(image: ImageFacts, options: ContainerOptions, container_id: str) -> Process:
    """Docker's merge of image config and flags (the module docstring lists the rules)."""
    entrypoint, cmd = command_parts(image.entrypoint, image.cmd, options)
    args = entrypoint + cmd
    if not args:
        raise InvalidOptionError(
            "no command specified", hint="give a command after the image, or --entrypoint"
        )
    workdir = options.workdir or image.working_dir or "/"
    if not workdir.startswith("/"):
        raise InvalidOptionError(
            f"the working directory {workdir!r} is invalid, it needs to be an absolute path"
        )
    user = options.user if options.user is not None else image.user
    uid, gid, groups, home = resolve_user(user or "0", image.passwd, image.group)
    if options.hostname:
        hostname = options.hostname
    elif options.network == "host":
        hostname = os.uname().nodename  # gethostname's own source; `socket` costs ~2 ms
    else:
        hostname = container_id[:12]
    env = merge_env(image.env, options.env)
    names = {entry.split("=", 1)[0] for entry in env}
    # moby's CreateDaemonEnvironment: PATH (if unset), HOSTNAME, then the container's env
    # replacing or appending by name; HOME last when unset (runc's libcontainer)
    head = ([] if "PATH" in names else [DEFAULT_PATH]) + [f"HOSTNAME={hostname}"]
    if options.tty:
        head.append("TERM=xterm")  # moby: with a terminal, before the container's own env
    merged = merge_env(tuple(head), tuple(env))
    if "HOME" not in names:
        merged.append(f"HOME={home}")
    return Process(
        args=args,
        env=tuple(merged),
        cwd=workdir,
        uid=uid,
        gid=gid,
        additional_gids=groups,
        hostname=hostname,
    )


def merge_env(image_env: tuple[str, ...], flags: tuple[str, ...]) -> list[str]:
    """The image's env with the `-e` flags applied by name (Docker's `ReplaceOrAppendEnvValues`)."""
    out = list(image_env)
    where = {entry.split("=", 1)[0]: i for i, entry in enumerate(out)}
    for flag in flags:
        if "=" in flag:
            key, entry = flag.split("=", 1)[0], flag
        else:
            key = flag
            value = os.environ.get(flag)
            if value is None:
                continue  # `-e NAME` with NAME unset in the caller: nothing (Docker)
            entry = f"{flag}={value}"
        if not key:
            raise InvalidOptionError(f"invalid environment variable {flag!r}")
        if key in where:
            out[where[key]] = entry
        else:
            where[key] = len(out)
            out.append(entry)
    return out


def resolve_user(user: str, passwd: str, group: str) -> tuple[int, int, tuple[int, ...], str]:
    """(uid, gid, supplementary gids, home) of a `-u` value in the image (moby's
    `getUser` through runc's libcontainer/user)."""
    name, _, group_part = user.partition(":")
    users = [line.split(":") for line in passwd.splitlines() if line.count(":") >= 6]
    groups = [line.split(":") for line in group.splitlines() if line.count(":") >= 3]
    entry = next((u for u in users if u[0] == name), None)
    if entry is None and name.isdigit():
        entry = next((u for u in users if u[2] == name), None)
    if entry is not None:
        uid, gid, home, login = int(entry[2]), int(entry[3]), entry[5] or "/", entry[0]
    elif name.isdigit():
        uid, gid, home, login = int(name), 0, "/", ""
    else:
        raise InvalidOptionError(
            f"unable to find user {name}: no matching entries in passwd file",
            hint="use a numeric uid or a user of the image's /etc/passwd",
        )
    if group_part:
        found = next((g for g in groups if g[0] == group_part), None)
        if found is not None:
            gid = int(found[2])
        elif group_part.isdigit():
            gid = int(group_part)
        else:
            raise InvalidOptionError(
                f"unable to find group {group_part}: no matching entries in group file"
            )
    members = tuple(
        int(g[2])
        for g in groups
        if login and login in g[3].split(",") and g[2].isdigit() and int(g[2]) != gid
    )
    return uid, gid, members if not group_part else (), home


def build(
    process: Process,
    options: ContainerOptions,
    *,
    rootfs: str,
    cgroup_path: str,
    annotations: dict[str, str],
    etc_files: dict[str, str],
    host_mounts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The config.json document: `process` over Docker's defaults, with `etc_files` (container
    path -> host file) bind-mounted as Docker mounts /etc/hostname, /etc/hosts, resolv.conf,
    then the HostConfig flags (`host_config.apply`) with `host_mounts` (volumes, binds, tmpfs as
    `Volumes.prepare` resolved them)."""
    from bastion.engine.host_config import apply
    from bastion.oci.defaults import default_spec

    spec: dict[str, Any] = default_spec()
    # capabilities, noNewPrivileges and rlimits: `apply`, from the flags
    spec["process"] = {
        "terminal": options.tty,
        "user": {
            "uid": process.uid,
            "gid": process.gid,
            **(
                {"additionalGids": list(process.additional_gids)} if process.additional_gids else {}
            ),
        },
        "args": list(process.args),
        "env": list(process.env),
        "cwd": process.cwd,
    }
    spec["root"] = {"path": rootfs, "readonly": False}
    spec["hostname"] = process.hostname
    spec["annotations"] = annotations
    mounts: list[dict[str, Any]] = spec["mounts"]
    for destination, source in sorted(etc_files.items()):
        mounts.append(
            {
                "destination": destination,
                "type": "bind",
                "source": source,
                "options": ["rbind", "rprivate"],
            }
        )
    linux: dict[str, Any] = spec["linux"]
    linux["cgroupsPath"] = cgroup_path
    linux["maskedPaths"] = list(_MASKED_PATHS)
    linux["readonlyPaths"] = list(_READONLY_PATHS)
    if options.network == "host":
        linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "network"]
    # capabilities, seccomp (for the final set), limits, read-only root, mounts, --init
    apply(spec, options, host_mounts or [])
    return spec
