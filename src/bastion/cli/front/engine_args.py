"""What the engine's verbs share: opening the `Engine` from the global options, the
`create`/`run` flags, the archive verbs' output check, and Docker's renderings of sizes and ages."""

from __future__ import annotations

import contextlib
import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator
    from typing import Any

    from bastion.engine import ContainerOptions, Engine


def open_engine(args: argparse.Namespace) -> Engine:
    from bastion.cli.front.main import quick_exit
    from bastion.engine import Engine

    engine = Engine(args.engine_root, runtime_root=args.root, cgroup_parent=args.cgroup_parent)
    # the lean launcher ends the process with os._exit: closing the metadata first would only
    # checkpoint SQLite's WAL (fsyncs: 3-16 ms here) for the next writer to find done
    engine.metadata.checkpoint_on_close = not quick_exit()
    return engine


def refuse_archive_to_terminal(output: str | None) -> None:
    """`save` and `export` without `-o` write a tar to standard output: never to a terminal."""
    import sys

    from bastion.engine import InvalidOptionError

    if not output and sys.stdout.isatty():
        raise InvalidOptionError(
            "refusing to write an archive to a terminal",
            hint="give -o FILE or redirect standard output",
        )


def add_container_options(parser: argparse.ArgumentParser) -> None:
    """`docker create`'s flags that the engine knows, then IMAGE [COMMAND [ARG...]]."""
    parser.add_argument("--help", action="help", help="show this help and exit")
    parser.add_argument("--name", help="the container's name")
    parser.add_argument("-e", "--env", action="append", default=[], help="KEY=VALUE or KEY")
    parser.add_argument("-w", "--workdir", help="working directory inside the container")
    parser.add_argument("-u", "--user", help="name|uid[:group|gid]")
    parser.add_argument("--entrypoint", help="overwrite the image's ENTRYPOINT")
    parser.add_argument("-h", "--hostname", help="the container's host name")
    parser.add_argument("-m", "--memory", help="memory limit (b, k, m, g)")
    parser.add_argument("--pids-limit", type=int, help="process limit (-1: unlimited)")
    parser.add_argument(
        "--network",
        "--net",
        default="bridge",
        help="bridge (default), none, host, container:NAME, or a network's name",
    )
    parser.add_argument("--ip", help="the container's IPv4 address on its network")
    parser.add_argument(
        "--network-alias", action="append", default=[], help="another name on the network"
    )
    parser.add_argument(
        "-p",
        "--publish",
        action="append",
        default=[],
        help="publish a port: [IP:][HOST:]CONTAINER[/tcp|udp]",
    )
    parser.add_argument(
        "-P", "--publish-all", action="store_true", help="publish every exposed port"
    )
    parser.add_argument("-l", "--label", action="append", default=[], help="KEY=VALUE")
    parser.add_argument("--rm", action="store_true", help="remove the container when it ends")
    add_host_config_options(parser)
    parser.add_argument("-i", "--interactive", action="store_true", help="keep stdin open")
    parser.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-terminal")
    parser.add_argument(
        "--restart", default="no", help="no|on-failure[:N]|always|unless-stopped (default: no)"
    )
    parser.add_argument(
        "--log-opt", action="append", default=[], help="max-size=SIZE: rotate the log at SIZE"
    )
    add_health_options(parser)
    parser.add_argument("image")
    parser.add_argument("command", nargs="...")


def add_health_options(parser: argparse.ArgumentParser) -> None:
    """Docker's health check flags (engine/health_config.py merges them over the image's)."""
    parser.add_argument("--health-cmd", help="command to run to check health (in /bin/sh -c)")
    parser.add_argument("--health-interval", help="time between checks (e.g. 30s; default 30s)")
    parser.add_argument("--health-timeout", help="longest a check may run (default 30s)")
    parser.add_argument(
        "--health-start-period", help="time to start before failures count (default 0s)"
    )
    parser.add_argument(
        "--health-retries", type=int, help="failures in a row that mean unhealthy (default 3)"
    )
    parser.add_argument(
        "--no-healthcheck", action="store_true", help="disable the image's HEALTHCHECK"
    )


def healthcheck_option(args: argparse.Namespace) -> dict[str, Any] | None:
    """The health check the flags ask for (None: none given, the image's applies)."""
    flags = ("health_cmd", "health_interval", "health_timeout", "health_start_period")
    given = any(getattr(args, name, None) is not None for name in flags)
    if not given and getattr(args, "health_retries", None) is None and not args.no_healthcheck:
        return None  # no health flag: nothing of health is imported on run's path
    from bastion.engine.health_config import from_flags

    return from_flags(
        cmd=args.health_cmd,
        interval=args.health_interval,
        timeout=args.health_timeout,
        start_period=args.health_start_period,
        retries=args.health_retries,
        disabled=args.no_healthcheck,
    )


def add_host_config_options(parser: argparse.ArgumentParser) -> None:
    """Volumes, limits, security and --init (engine/host_config.py, engine/mount_flags.py)."""
    parser.add_argument(
        "-v", "--volume", action="append", default=[], help="[SRC:]DST[:ro|rw] bind or volume"
    )
    parser.add_argument(
        "--mount", action="append", default=[], help="type=bind|volume|tmpfs,source=..,target=.."
    )
    parser.add_argument("--tmpfs", action="append", default=[], help="DST[:OPTIONS] a tmpfs mount")
    parser.add_argument(
        "--volumes-from",
        action="append",
        default=[],
        help="CONTAINER[:ro|rw] that container's volumes and bind mounts",
    )
    parser.add_argument("--read-only", action="store_true", help="a read-only root filesystem")
    parser.add_argument("--memory-swap", help="memory plus swap (b, k, m, g; -1: unlimited)")
    parser.add_argument("--cpus", help="number of CPUs (a CFS quota)")
    parser.add_argument("-c", "--cpu-shares", type=int, help="relative CPU weight")
    parser.add_argument("--cpuset-cpus", help="CPUs allowed (0-2,4)")
    parser.add_argument("--cap-add", action="append", default=[], help="add a capability (or ALL)")
    parser.add_argument(
        "--cap-drop", action="append", default=[], help="drop a capability (or ALL)"
    )
    parser.add_argument("--privileged", action="store_true", help="every capability and device")
    parser.add_argument(
        "--security-opt", action="append", default=[], help="no-new-privileges, seccomp=PROFILE"
    )
    parser.add_argument("--ulimit", action="append", default=[], help="NAME=SOFT[:HARD]")
    parser.add_argument(
        "--env-file", action="append", default=[], help="read environment variables from a file"
    )
    parser.add_argument("--label-file", action="append", default=[], help="read labels from a file")
    parser.add_argument("--init", action="store_true", help="run catatonit as PID 1")


def container_options(args: argparse.Namespace) -> ContainerOptions:
    from bastion.engine import ContainerOptions, InvalidOptionError
    from bastion.runtime.update_flags import ram_in_bytes

    memory = None
    if args.memory:
        try:
            memory = ram_in_bytes(args.memory, "memory")
        except Exception as exc:
            raise InvalidOptionError(f"invalid --memory {args.memory!r}: {exc}") from None
    from bastion.engine.host_config import read_kv_file

    memory_swap = None
    if args.memory_swap and args.memory_swap != "-1":
        try:
            memory_swap = ram_in_bytes(args.memory_swap, "memory-swap")
        except Exception as exc:
            raise InvalidOptionError(f"invalid --memory-swap {args.memory_swap!r}: {exc}") from None
    elif args.memory_swap:
        memory_swap = -1
    cpus = None
    if args.cpus is not None:
        try:
            cpus = float(args.cpus)
        except ValueError:
            raise InvalidOptionError(f"invalid --cpus {args.cpus!r}: not a number") from None
    # Docker's CLI: the files' lines first, then the flags, so a flag wins
    env = [line for path in args.env_file for line in read_kv_file(path, "--env-file")]
    label_lines = [line for path in args.label_file for line in read_kv_file(path, "--label-file")]
    log_size_max = None
    for option in getattr(args, "log_opt", ()):
        key, _, value = option.partition("=")
        if key != "max-size":
            raise InvalidOptionError(f"unknown --log-opt {option!r}", hint="max-size=SIZE")
        try:
            log_size_max = ram_in_bytes(value, "max-size")
        except Exception as exc:
            raise InvalidOptionError(f"invalid --log-opt {option!r}: {exc}") from None
    labels = {}
    for label in [*label_lines, *args.label]:
        key, _, value = label.partition("=")
        labels[key] = value
    return ContainerOptions(
        command=tuple(args.command) if args.command else None,
        entrypoint=args.entrypoint,
        env=(*env, *args.env),
        workdir=args.workdir,
        user=args.user,
        hostname=args.hostname,
        memory=memory,
        pids_limit=args.pids_limit,
        network=args.network,
        ip=args.ip,
        network_aliases=tuple(args.network_alias),
        publish=tuple(args.publish),
        publish_all=args.publish_all,
        labels=labels,
        name=args.name,
        auto_remove=args.rm,
        detach=bool(getattr(args, "detach", False)),
        volumes=tuple(args.volume),
        mounts=tuple(args.mount),
        tmpfs=tuple(args.tmpfs),
        volumes_from=tuple(args.volumes_from),
        read_only=args.read_only,
        memory_swap=memory_swap,
        cpus=cpus,
        cpu_shares=args.cpu_shares,
        cpuset_cpus=args.cpuset_cpus,
        cap_add=tuple(args.cap_add),
        cap_drop=tuple(args.cap_drop),
        privileged=args.privileged,
        security_opt=tuple(args.security_opt),
        ulimits=tuple(args.ulimit),
        init=args.init,
        tty=args.tty,
        interactive=args.interactive,
        restart=args.restart,
        log_size_max=log_size_max,
        healthcheck=healthcheck_option(args),
    )


def human_size(size: float) -> str:
    """Docker's `units.HumanSize`: decimal units, 3 significant digits ("4.87MB")."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000:
            return f"{size:.3g}{unit}"
        size /= 1000
    return f"{size:.3g}PB"


def confirm(question: str) -> bool:
    """Ask on stderr, read a line of stdin: only y/yes says yes (Docker's prompts)."""
    import sys

    sys.stderr.write(question)
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def binary_size(size: float) -> str:
    """Docker's `units.BytesSize`: binary units, 4 significant digits ("1.5MiB", "64MiB")."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024:
            return f"{size:.4g}{unit}"
        size /= 1024
    return f"{size:.4g}PiB"


def human_age(stamp: float, now: float | None = None) -> str:
    """Docker's `units.HumanDuration` + " ago"."""
    seconds = max(0.0, (now if now is not None else time.time()) - stamp)
    if seconds < 1:
        return "Less than a second ago"
    if seconds < 2:
        return "1 second ago"
    if seconds < 60:
        return f"{int(seconds)} seconds ago"
    minutes = seconds / 60
    if minutes < 60:
        return "About a minute ago" if int(minutes) == 1 else f"{int(minutes)} minutes ago"
    hours = minutes / 60
    if hours < 48:
        return "About an hour ago" if int(hours) == 1 else f"{int(hours)} hours ago"
    days = hours / 24
    if days < 14:
        return f"{int(days)} days ago"
    if days < 60:
        return f"{int(days / 7)} weeks ago"
    if days < 730:
        return f"{int(days / 30)} months ago"
    return f"{int(days / 365)} years ago"


@contextlib.contextmanager
def spooled_stdin(root: str, what: str) -> Iterator[str]:
    """Standard input copied to a file under the engine's root (an archive is read by seeking,
    a pipe cannot seek); refused when standard input is a terminal."""
    import shutil
    import sys
    import tempfile

    from bastion.engine import InvalidOptionError

    if sys.stdin.isatty():
        raise InvalidOptionError(
            f"no {what} on standard input (it is a terminal)",
            hint="give the file, or pipe it in",
        )
    scratch = tempfile.mkdtemp(dir=root, prefix="tmp-stdin-")
    try:
        path = os.path.join(scratch, what)
        with open(path, "wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
        yield path
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
