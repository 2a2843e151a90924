"""The `run` flags Docker keeps in a container's HostConfig, turned into config.json as moby's
daemon/oci_linux.go does: capabilities, privileged mode, seccomp, no_new_privs, rlimits, CPU
and memory limits, a read-only root, mounts (volumes, binds, tmpfs) and the init process.

- Capabilities (moby oci/caps TweakCapabilities): `--privileged` gives every capability the
  kernel knows (that the engine itself holds); otherwise Docker's default set, less
  `--cap-drop`, plus `--cap-add`; `ALL` in `--cap-add` means every capability but the dropped
  ones, `ALL` in `--cap-drop` means only the added ones. Names are case-insensitive, with
  or without `CAP_`.
- Seccomp: Docker's default profile converted for the final bounding set, unless
  `seccomp=unconfined` or `--privileged` (none), or `seccomp=FILE` (that profile, converted
  for the same set).
- `--privileged` also: no masked or read-only paths, /sys and the cgroup mount read-write,
  every host device node created and allowed (moby WithDevices with HostDevices).
- Memory (moby verifyPlatformContainerResources): without `--memory-swap`, memory+swap is twice
  `-m`; `--memory-swap -1` is unlimited swap; otherwise it is memory+swap and must be at least
  `-m`; `--memory-swap` without `-m` is an error.
- `--cpus N`: a CFS quota of N periods of 100 ms (NanoCpus = N x 10^9); `--cpu-shares` as the
  kernel clamps it (2..262144); `--cpuset-cpus` checked against the host's online CPUs.
- `--init`: catatonit (Podman's init) bind-mounted read-only at /run/bastion-init and run as
  PID 1 in front of the command (`catatonit -- ARGS`); Debian's build is static, so it needs
  nothing else from the host.
"""

from __future__ import annotations

import os

from bastion.engine.errors import InvalidOptionError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from bastion.engine.spec import ContainerOptions

INIT_BINARY = "/usr/bin/catatonit"
INIT_PATH = "/run/bastion-init"
CFS_PERIOD = 100_000  # µs, Docker's
MIN_SHARES, MAX_SHARES = 2, 262_144
RLIM_INFINITY = 2**64 - 1

# docker/go-units ulimit.go
ULIMITS = {
    name: f"RLIMIT_{name.upper()}"
    for name in (
        *("core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile"),
        *("nproc", "rss", "rtprio", "rttime", "sigpending", "stack"),
    )
}


# --- capabilities ---------------------------------------------------------------------------


def all_capabilities() -> list[str]:
    """Every capability the running kernel knows (moby caps.GetAllCapabilities) that the
    engine's own bounding set holds: a capability the engine lacks cannot be given (capset
    fails with EPERM; some sandboxes drop CAP_SYS_RESOURCE, say)."""
    from bastion.oci.vocabulary import CAPABILITIES

    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except (OSError, ValueError):
        last = max(CAPABILITIES.values())
    bounding = (1 << (last + 1)) - 1
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    bounding = int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return [
        name for name, number in CAPABILITIES.items() if number <= last and bounding & (1 << number)
    ]


def _normalise_caps(names: tuple[str, ...], flag: str) -> list[str]:
    from bastion.oci.vocabulary import CAPABILITIES

    out = []
    for raw in names:
        name = raw.strip().upper()
        if name == "ALL":
            out.append(name)
            continue
        if not name.startswith("CAP_"):
            name = "CAP_" + name
        if name not in CAPABILITIES:
            raise InvalidOptionError(
                f"unknown capability {raw!r} in {flag}",
                hint="names as in capabilities(7), e.g. NET_ADMIN or CAP_NET_ADMIN, or ALL",
            )
        out.append(name)
    return out


def capabilities(options: ContainerOptions) -> list[str]:
    """The container's bounding (= effective = permitted) set (moby TweakCapabilities)."""
    from bastion.runtime.seccomp_profile import DOCKER_DEFAULT_CAPABILITIES

    drops = _normalise_caps(options.cap_drop, "--cap-drop")
    adds = _normalise_caps(options.cap_add, "--cap-add")
    if options.privileged:
        return all_capabilities()
    if not adds and not drops:
        return list(DOCKER_DEFAULT_CAPABILITIES)
    if "ALL" in adds:
        caps = [c for c in all_capabilities() if c not in drops]
    elif "ALL" in drops:
        caps = adds
    else:
        caps = [c for c in DOCKER_DEFAULT_CAPABILITIES if c not in drops] + adds
    return list(dict.fromkeys(c for c in caps if c != "ALL"))


# --- security options -----------------------------------------------------------------------


def security(options: ContainerOptions) -> tuple[bool, str]:
    """(no_new_privileges, seccomp) from `--security-opt`: seccomp is "default",
    "unconfined" or a profile's path (moby parseSecurityOpt)."""
    no_new_privileges, seccomp = False, "default"
    for opt in options.security_opt:
        key, sep, value = opt.partition("=")
        if not sep:
            key, sep, value = opt.partition(":")  # Docker's legacy `no-new-privileges:true`
        if key == "no-new-privileges":
            if value.lower() not in ("", "true", "false"):
                raise InvalidOptionError(f"invalid --security-opt {opt!r}: expected true|false")
            no_new_privileges = value.lower() != "false"
        elif key == "seccomp" and value:
            seccomp = value
        else:
            raise InvalidOptionError(
                f"invalid --security-opt {opt!r}",
                hint="supported: no-new-privileges[:true|false], seccomp=unconfined, "
                "seccomp=PROFILE.json",
            )
    return no_new_privileges, seccomp


def seccomp_profile(seccomp: str, caps: list[str], privileged: bool) -> dict[str, Any] | None:
    from bastion.runtime.seccomp_profile import convert, default_profile

    if seccomp == "unconfined" or (privileged and seccomp == "default"):
        return None
    if seccomp == "default":
        return default_profile(caps)
    from bastion import jsonio

    try:
        with open(seccomp, "rb") as f:
            document = jsonio.loads(f.read())
    except (OSError, ValueError) as exc:
        raise InvalidOptionError(
            f"cannot read the seccomp profile {seccomp!r}: {exc}",
            hint="seccomp=PATH names a Docker seccomp profile (JSON)",
        ) from None
    return convert(document, capabilities=caps)


# --- limits ---------------------------------------------------------------------------------


def parse_ulimit(text: str) -> tuple[str, int, int]:
    """NAME=SOFT[:HARD] (go-units ParseUlimit): (RLIMIT_NAME, soft, hard); -1 or "unlimited"
    is no limit."""
    name, sep, values = text.partition("=")
    if not sep or name not in ULIMITS:
        raise InvalidOptionError(
            f"invalid --ulimit {text!r}",
            hint=f"NAME=SOFT[:HARD] with NAME one of {', '.join(ULIMITS)}",
        )
    soft_text, _, hard_text = values.partition(":")
    soft = _limit(soft_text, text)
    hard = _limit(hard_text, text) if hard_text else soft
    if soft > hard:
        raise InvalidOptionError(
            f"ulimit soft limit must be less than or equal to hard limit: {text!r}"
        )
    return ULIMITS[name], soft, hard


def _limit(text: str, flag: str) -> int:
    if text in ("-1", "unlimited"):
        return RLIM_INFINITY
    if not text.isdigit():
        raise InvalidOptionError(f"invalid --ulimit {flag!r}: {text!r} is not a number")
    return int(text)


def _online_cpus() -> set[int]:
    try:
        with open("/sys/devices/system/cpu/online") as f:
            return parse_cpu_list(f.read().strip())
    except OSError:
        return set(range(os.cpu_count() or 1))


def shares_and_cpuset(
    shares: int | None, cpuset: str | None, *, where: str | None = None
) -> dict[str, Any]:
    """The `cpu` resources of --cpu-shares (clamped to the kernel's range, as runc does) and
    --cpuset-cpus (only online CPUs, with moby's message): for `run` and `update` alike."""
    cpu: dict[str, Any] = {}
    if shares:
        cpu["shares"] = min(max(shares, MIN_SHARES), MAX_SHARES)
    if cpuset:
        wanted, online_set = parse_cpu_list(cpuset), _online_cpus()
        if not wanted <= online_set:
            raise InvalidOptionError(
                f"requested CPUs are not available - requested {cpuset}, "
                f"available: {','.join(map(str, sorted(online_set)))}",
                where=where,
            )
        cpu["cpus"] = cpuset
    return cpu


def parse_cpu_list(text: str) -> set[int]:
    """A cpuset list ("0-2,4")."""
    out: set[int] = set()
    for item in text.split(","):
        low, sep, high = item.partition("-")
        if not low.isdigit() or (sep and not high.isdigit()):
            raise InvalidOptionError(f"invalid --cpuset-cpus value {text!r}", hint="e.g. 0-2,4")
        out.update(range(int(low), int(high if sep else low) + 1))
    return out


def resources(options: ContainerOptions) -> dict[str, Any]:
    """`linux.resources` for the limits (devices are set apart)."""
    out: dict[str, Any] = {}
    memory, swap = options.memory, options.memory_swap
    if swap and memory is None:
        raise InvalidOptionError(
            "you should always set the memory limit when using the memory-swap limit",
            hint="add -m/--memory",
        )
    if memory is not None:
        if not swap:
            swap = memory * 2
        elif swap != -1 and swap < memory:
            raise InvalidOptionError(
                "minimum memory-swap limit should be larger than the memory limit",
                hint="--memory-swap is memory plus swap; -1 for unlimited swap",
            )
        out["memory"] = {"limit": memory, "swap": swap}
    if options.pids_limit is not None and options.pids_limit > 0:
        out["pids"] = {"limit": options.pids_limit}
    cpu: dict[str, Any] = {}
    if options.cpus:  # 0: no limit, as Docker's NanoCpus 0
        online = len(_online_cpus())
        if not 0.01 <= options.cpus <= online:
            raise InvalidOptionError(
                f"range of CPUs is from 0.01 to {online}.00, as there are only {online} CPUs "
                "available"
            )
        cpu["period"] = CFS_PERIOD
        cpu["quota"] = nano_cpus(options.cpus) * CFS_PERIOD // 10**9
    cpu.update(shares_and_cpuset(options.cpu_shares, options.cpuset_cpus))
    if cpu:
        out["cpu"] = cpu
    return out


def nano_cpus(cpus: float) -> int:
    return round(cpus * 10**9)


# --- devices --------------------------------------------------------------------------------

# runc's HostDevices skips these directories and /dev/console; /dev/ptmx is the runtime's link
_SKIP_DIRS = frozenset(("pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"))


def host_devices(top: str = "/dev") -> list[dict[str, Any]]:
    """The host's device nodes as `linux.devices` entries (what `--privileged` gets)."""
    import stat

    out: list[dict[str, Any]] = []
    for directory, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        for name in files:
            path = os.path.join(directory, name)
            if path in ("/dev/console", "/dev/ptmx"):
                continue
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                out.append(
                    {
                        "path": path,
                        "type": "c" if stat.S_ISCHR(st.st_mode) else "b",
                        "major": os.major(st.st_rdev),
                        "minor": os.minor(st.st_rdev),
                        "fileMode": stat.S_IMODE(st.st_mode),
                        "uid": st.st_uid,
                        "gid": st.st_gid,
                    }
                )
    return sorted(out, key=lambda d: str(d["path"]))


# --- key=value files ------------------------------------------------------------------------


def read_kv_file(path: str, flag: str) -> list[str]:
    """The lines of an `--env-file`/`--label-file` (docker/cli opts/file.go): leading
    whitespace dropped, blank lines and `#` comments skipped, the rest kept verbatim (no quote
    processing); a variable name may hold no whitespace and may not be empty."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidOptionError(f"cannot read {flag} {path!r}: {exc}") from None
    out = []
    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        name = line.split("=", 1)[0]
        if not name:
            raise InvalidOptionError(f"no variable name on line {line!r}", where=f"{path}:{number}")
        if any(c.isspace() for c in name):
            raise InvalidOptionError(
                f"variable {name!r} contains whitespaces", where=f"{path}:{number}"
            )
        out.append(line)
    return out


# --- the spec -------------------------------------------------------------------------------


def oci_mount(mount: dict[str, Any]) -> dict[str, Any]:
    """One saved mount of a container (engine/volumes.py `prepare`) as a config.json mount."""
    if mount["type"] == "tmpfs":
        return {
            "destination": mount["destination"],
            "type": "tmpfs",
            "source": "tmpfs",
            "options": [*mount.get("options", ()), "rprivate"],
        }
    return {
        "destination": mount["destination"],
        "type": "bind",
        "source": mount["source"],
        "options": [
            "rbind",
            mount.get("propagation") or "rprivate",
            "ro" if mount["read_only"] else "rw",
        ],
    }


def apply(spec: dict[str, Any], options: ContainerOptions, mounts: list[dict[str, Any]]) -> None:
    """Put the HostConfig flags into `spec` (the default document `spec.build` made)."""
    caps = capabilities(options)
    no_new_privileges, seccomp = security(options)
    process = spec["process"]
    process["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps}
    process["noNewPrivileges"] = no_new_privileges
    rlimits = {r["type"]: r for r in process.get("rlimits", ())}
    for text in options.ulimits:
        name, soft, hard = parse_ulimit(text)
        rlimits[name] = {"type": name, "soft": soft, "hard": hard}
    process["rlimits"] = list(rlimits.values())
    linux = spec["linux"]
    profile = seccomp_profile(seccomp, caps, options.privileged)
    if profile is None:
        linux.pop("seccomp", None)
    else:
        linux["seccomp"] = profile
    linux.setdefault("resources", {}).update(resources(options))
    spec["root"]["readonly"] = options.read_only
    taken = {m["destination"] for m in mounts}
    if options.init:
        taken.add(INIT_PATH)
    spec["mounts"] = [m for m in spec["mounts"] if m["destination"] not in taken]
    spec["mounts"] += [oci_mount(m) for m in mounts]
    # parents before what is under them (a volume at /etc under the /etc/hosts bind); a
    # stable sort keeps the defaults' order
    spec["mounts"].sort(key=lambda m: m["destination"].rstrip("/").count("/"))
    if options.init:
        if not os.path.isfile(INIT_BINARY):
            raise InvalidOptionError(
                f"--init needs {INIT_BINARY}, which is missing",
                hint="install Debian's catatonit package",
            )
        spec["mounts"].append(
            {
                "destination": INIT_PATH,
                "type": "bind",
                "source": INIT_BINARY,
                "options": ["bind", "rprivate", "ro"],
            }
        )
        process["args"] = [INIT_PATH, "--", *process["args"]]
    if options.privileged:
        linux["maskedPaths"] = []
        linux["readonlyPaths"] = []
        for mount in spec["mounts"]:
            if mount["type"] in ("sysfs", "cgroup"):
                mount["options"] = [o for o in mount.get("options", ()) if o != "ro"] + ["rw"]
        linux["devices"] = host_devices()
        linux["resources"]["devices"] = [{"allow": True, "access": "rwm"}]


def inspect_fields(options: ContainerOptions) -> dict[str, Any]:
    """What `inspect` shows of these flags, under Docker's HostConfig names (saved with the
    container, so `inspect` shows what it was made with)."""
    from bastion.engine.mount_flags import parse_mount

    binds = [v for v in options.volumes if ":" in v]
    mounts = []
    for text in options.mounts:
        request = parse_mount(text) if text else None
        if request is not None:
            mount: dict[str, Any] = {"Type": request.type, "Target": request.target}
            if request.source:
                mount["Source"] = request.source
            if request.read_only:
                mount["ReadOnly"] = True
            mounts.append(mount)
    tmpfs = {}
    for text in options.tmpfs:
        target, _, data = text.partition(":")
        tmpfs[target] = data
    ulimits = []
    for text in options.ulimits:
        name, soft, hard = parse_ulimit(text)
        ulimits.append(
            {
                "Name": name.removeprefix("RLIMIT_").lower(),
                "Hard": -1 if hard == RLIM_INFINITY else hard,
                "Soft": -1 if soft == RLIM_INFINITY else soft,
            }
        )
    swap = options.memory_swap or 0
    if options.memory and not swap:
        swap = options.memory * 2
    return {
        "Binds": binds or None,
        "Mounts": mounts or None,
        "Tmpfs": tmpfs or None,
        "VolumesFrom": list(options.volumes_from) or None,
        "ReadonlyRootfs": options.read_only,
        "Memory": options.memory or 0,
        "MemorySwap": swap,
        "NanoCpus": nano_cpus(options.cpus) if options.cpus else 0,
        "CpuShares": options.cpu_shares or 0,
        "CpusetCpus": options.cpuset_cpus or "",
        "CapAdd": list(options.cap_add) or None,
        "CapDrop": list(options.cap_drop) or None,
        "Privileged": options.privileged,
        "SecurityOpt": list(options.security_opt) or None,
        "Ulimits": ulimits or None,
        "Init": True if options.init else None,
    }
