"""Semantic checks of a decoded `Spec`, run before any side effect.

`decode_spec` has already checked types and ranges; this module checks meaning: the vocabularies
(capabilities, rlimits, namespace types, seccomp actions), absolute paths, and the cross-field
rules of runc's `libcontainer/configs/validate` (hostname needs a UTS namespace, user namespace
mappings iff a user namespace, sysctls only inside the namespace that isolates them). Each error is
a `SpecError` whose `where` is the JSON path, so a user can find the value in config.json.

Where we are stricter than runc it is said next to the check, with the reason.
"""

from __future__ import annotations

from bastion.oci._reader import INVALID, MISSING, SpecError
from bastion.oci._validate_linux import check_mappings, validate_linux
from bastion.oci.spec import Hooks, Linux, Mount, Process, Root, Spec
from bastion.oci.vocabulary import (
    CAPABILITIES,
    IOPRIO_CLASSES,
    RLIMITS,
    SCHED_FLAGS,
    SCHED_POLICIES,
)

_EMPTY_LINUX = Linux()
_CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


def validate_spec(spec: Spec, *, require_process: bool = False) -> None:
    """Raise `SpecError` if `spec` cannot be run as it says.

    `require_process` is for `create`/`run`, which start `process`; a config used only to join
    or inspect (and the spec itself, where `process` is OPTIONAL) may leave it out.
    """
    _check_version(spec.oci_version)
    _check_root(spec.root)
    if spec.process is not None:
        _check_process(spec.process)
    elif require_process:
        raise SpecError(
            "process is required to create a container",
            where="process",
            hint='add "process": {"args": [...], "cwd": "/"}',
            reference=MISSING,
        )
    _check_mounts(spec.mounts)
    if spec.hooks is not None:
        _check_hooks(spec.hooks)
    validate_linux(spec.linux or _EMPTY_LINUX, hostname=spec.hostname, domainname=spec.domainname)


def _invalid(where: str, message: str, hint: str | None = None) -> SpecError:
    return SpecError(message, where=where, hint=hint, reference=INVALID)


def _check_version(version: str) -> None:
    if not version:
        raise SpecError(
            "ociVersion is empty", where="ociVersion", hint='use "1.1.0"', reference=MISSING
        )
    # Any 1.x document decodes the same way (runtime-spec keeps 1.x backward compatible).
    if version.split(".", 1)[0] != "1" or "." not in version:
        raise _invalid(
            "ociVersion",
            f"unsupported runtime-spec version {version!r}",
            'this runtime implements runtime-spec 1.x; use "1.1.0"',
        )


def _check_root(root: Root | None) -> None:
    # Required on Linux (config.md "Root": "On POSIX platforms, root.path is REQUIRED").
    if root is None:
        raise SpecError(
            "root is required on Linux",
            where="root",
            hint='add "root": {"path": "rootfs"}',
            reference=MISSING,
        )
    if not root.path:
        raise _invalid("root.path", "must not be empty", "name the rootfs directory, e.g. rootfs")


# --- process -------------------------------------------------------------------------------


def _check_process(process: Process) -> None:
    if not process.args:
        raise SpecError(
            "args must name the program to run",
            where="process.args",
            hint='e.g. "args": ["sh"]',
            reference=MISSING,
        )
    if not process.cwd.startswith("/"):
        raise _invalid("process.cwd", "must be an absolute path", 'e.g. "cwd": "/"')
    for i, entry in enumerate(process.env):
        # runc's populateProcessEnvironment refuses these in the container, after setup;
        # refusing them here avoids creating a container that cannot start.
        name, eq, _ = entry.partition("=")
        if not eq or not name:
            raise _invalid(f"process.env[{i}]", "must be NAME=value", "e.g. PATH=/usr/bin:/bin")
    if process.capabilities is not None:
        for set_name in _CAP_SETS:
            for i, cap in enumerate(getattr(process.capabilities, set_name)):
                if cap not in CAPABILITIES:
                    where = f"process.capabilities.{set_name}[{i}]"
                    raise _invalid(where, f"unknown capability {cap!r}", _cap_hint(cap))
    _check_rlimits(process)
    if process.oom_score_adj is not None and not -1000 <= process.oom_score_adj <= 1000:
        # proc(5) /proc/pid/oom_score_adj: the kernel refuses values outside -1000..1000.
        raise _invalid("process.oomScoreAdj", "must be between -1000 and 1000")
    io = process.io_priority
    if io is not None:
        if io.class_ not in IOPRIO_CLASSES:
            raise _invalid(
                "process.ioPriority.class",
                f"unknown class {io.class_!r}",
                "one of " + ", ".join(IOPRIO_CLASSES),
            )
        if io.priority is not None and not 0 <= io.priority <= 7:
            # ioprio_set(2): levels are 0 (highest) to 7 (lowest).
            raise _invalid("process.ioPriority.priority", "must be between 0 and 7")
    sched = process.scheduler
    if sched is not None:
        if sched.policy not in SCHED_POLICIES:
            raise _invalid(
                "process.scheduler.policy",
                f"unknown policy {sched.policy!r}",
                "one of " + ", ".join(SCHED_POLICIES),
            )
        for i, name in enumerate(sched.flags):
            if name not in SCHED_FLAGS:
                raise _invalid(
                    f"process.scheduler.flags[{i}]",
                    f"unknown flag {name!r}",
                    "one of " + ", ".join(SCHED_FLAGS),
                )
        if sched.nice is not None and not -20 <= sched.nice <= 19:
            raise _invalid("process.scheduler.nice", "must be between -20 and 19")


def _cap_hint(cap: str) -> str:
    guess = cap.strip().upper()
    if not guess.startswith("CAP_"):
        guess = "CAP_" + guess
    if guess in CAPABILITIES:
        return f"did you mean {guess}? Names are upper case with the CAP_ prefix"
    return "capabilities are spelled like CAP_NET_ADMIN (upper case, CAP_ prefix; capabilities(7))"


def _check_rlimits(process: Process) -> None:
    seen: set[str] = set()
    for i, rlimit in enumerate(process.rlimits):
        where = f"process.rlimits[{i}]"
        if rlimit.type not in RLIMITS:
            raise _invalid(
                f"{where}.type",
                f"unknown rlimit {rlimit.type!r}",
                "rlimits are spelled like RLIMIT_NOFILE (getrlimit(2))",
            )
        # config.md "rlimits": "If rlimits contains duplicated entries with same type, the
        # runtime MUST generate an error."
        if rlimit.type in seen:
            raise _invalid(f"{where}.type", f"{rlimit.type} is given twice")
        seen.add(rlimit.type)
        if rlimit.soft > rlimit.hard:
            # setrlimit(2) fails with EINVAL; say so before the container exists.
            raise _invalid(
                f"{where}.soft",
                f"soft limit {rlimit.soft} is above hard limit {rlimit.hard}",
                "the soft limit must not exceed the hard limit",
            )


# --- mounts and hooks ----------------------------------------------------------------------


def _check_mounts(mounts: tuple[Mount, ...]) -> None:
    for i, mount in enumerate(mounts):
        if not mount.destination.startswith("/"):
            # Old runc accepted a relative destination with a warning and resolved it against
            # "/"; runtime-spec 1.1 requires absolute paths, so we refuse rather than guess.
            raise _invalid(
                f"mounts[{i}].destination",
                f"must be an absolute path, found {mount.destination!r}",
                f"write it from the container's root, e.g. /{mount.destination.lstrip('./')}",
            )
        if mount.uid_mappings or mount.gid_mappings:
            # An idmapped mount needs both maps (runc: "both uid and gid mappings").
            if not mount.uid_mappings:
                raise SpecError(
                    "an idmapped mount needs uidMappings too",
                    where=f"mounts[{i}].uidMappings",
                    reference=MISSING,
                )
            if not mount.gid_mappings:
                raise SpecError(
                    "an idmapped mount needs gidMappings too",
                    where=f"mounts[{i}].gidMappings",
                    reference=MISSING,
                )
            check_mappings(mount.uid_mappings, f"mounts[{i}].uidMappings")
            check_mappings(mount.gid_mappings, f"mounts[{i}].gidMappings")


def _check_hooks(hooks: Hooks) -> None:
    for name, key in (
        ("prestart", "prestart"),
        ("create_runtime", "createRuntime"),
        ("create_container", "createContainer"),
        ("start_container", "startContainer"),
        ("poststart", "poststart"),
        ("poststop", "poststop"),
    ):
        for i, hook in enumerate(getattr(hooks, name)):
            # config.md "POSIX-platform Hooks": "path ... MUST be absolute".
            if not hook.path.startswith("/"):
                raise _invalid(f"hooks.{key}[{i}].path", "must be an absolute path")
