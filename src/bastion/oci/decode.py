"""config.json text → `Spec`, by hand, so that every error names its JSON path.

`decode_spec` checks what the JSON schema (runtime-spec schema/config-schema.json) can: JSON
syntax, types, required keys and integer ranges of defs.json (int64, uint32 ...). The meaning of the
values (known capabilities, absolute paths, namespace rules) is checked by `validate.validate_spec`.
Both raise only `SpecError`, whatever the input: a fuzz test holds the decoder to that.

Why hand-written: msgspec, pydantic or json + dataclasses cost 15-90 ms to import, several times
what runc needs for a whole `run` (docs/conventions.md §6, docs/architecture.md "The fast path").
"""

from __future__ import annotations

import os

from bastion.jsonio import JSONSyntaxError, loads
from bastion.oci._linux import decode_resources, id_mapping, linux
from bastion.oci._reader import (
    INT32,
    INT64,
    NOT_JSON,
    UINT32,
    UINT64,
    SpecError,
    SpecNotFound,
    array,
    flag,
    integer,
    integers,
    obj,
    req_integer,
    req_string,
    str_map,
    string,
    strings,
    sub,
)
from bastion.oci.spec import (
    Box,
    CPUAffinity,
    Hook,
    Hooks,
    LinuxCapabilities,
    LinuxIOPriority,
    Mount,
    POSIXRlimit,
    Process,
    Root,
    Scheduler,
    Spec,
    User,
)

__all__ = [
    "SpecError",
    "SpecNotFound",
    "decode_process",
    "decode_resources",
    "decode_spec",
    "load_spec",
    "parse_json",
    "read_config",
]

# A hook's timeout is in seconds and must be positive (defs.json Hook.timeout "minimum": 1).
_TIMEOUT = (1, INT64[1])


def load_spec(bundle_dir: str) -> Spec:
    """Read and decode `<bundle_dir>/config.json`."""
    path, data = read_config(bundle_dir)
    return decode_spec(data, source=path)


def read_config(bundle_dir: str) -> tuple[str, bytes]:
    """(path, bytes) of `<bundle_dir>/config.json`: the one place a bundle's config is read.

    Raises `SpecNotFound` (spec-not-found) when the bundle or its config.json does not exist and
    `SpecError` (spec-unreadable) when it cannot be read. `create` keeps the bytes it decoded.
    """
    path = os.path.join(bundle_dir, "config.json")
    try:
        with open(path, "rb") as file:
            data = file.read()
    except (FileNotFoundError, NotADirectoryError):
        raise SpecNotFound(
            "the bundle has no config.json",
            where=path,
            hint="pass the bundle directory with --bundle (default: the current directory); "
            "`bastion-runc spec` writes a default config.json",
        ) from None
    except OSError as exc:
        raise SpecError(
            f"cannot read config.json: {exc.strerror}", where=path, reference="spec-unreadable"
        ) from None
    return path, data


def decode_spec(text: str | bytes, *, source: str = "config.json") -> Spec:
    """Decode config.json text; `source` names the file in syntax errors ("config.json:3:7")."""
    return _spec(parse_json(text, source), source)


def decode_process(text: str | bytes, *, source: str = "process.json") -> Process:
    """Decode a process document (`bastion-runc exec --process FILE`); paths start at its root."""
    return _process(parse_json(text, source), "")


def parse_json(text: str | bytes, source: str) -> object:
    """JSON text as Python values, with Go's decoder's view of bad UTF-8; a syntax error is a
    `SpecError` (spec-not-json) naming `source:line:column`."""
    if isinstance(text, bytes):
        # Go's decoder replaces invalid UTF-8 inside strings with U+FFFD; outside strings it is
        # a syntax error either way, reported at the replacement character.
        text = text.decode("utf-8", "replace")
    try:
        return loads(text)
    except JSONSyntaxError as exc:
        where = f"{source}:{exc.lineno}:{exc.colno}"
        raise SpecError(f"not valid JSON: {exc.msg}", where=where, reference=NOT_JSON) from None
    except RecursionError:
        raise SpecError(
            "not valid JSON: arrays or objects nested too deeply", where=source, reference=NOT_JSON
        ) from None
    except ValueError as exc:  # anything else the C scanner reports (e.g. a 5000-digit number)
        raise SpecError(f"not valid JSON: {exc}", where=source, reference=NOT_JSON) from None


def _spec(value: object, source: str) -> Spec:
    d = obj(value, source)
    return Spec(
        oci_version=req_string(d, "ociVersion", ""),
        process=sub(d, "process", "", _process),
        root=sub(d, "root", "", _root),
        hostname=string(d, "hostname", ""),
        domainname=string(d, "domainname", ""),
        mounts=array(d, "mounts", "", _mount),
        hooks=sub(d, "hooks", "", _hooks),
        # Annotations are opaque to the runtime and only passed on (state, hooks): any string.
        annotations=str_map(d, "annotations", "", allow_nul=True),
        linux=sub(d, "linux", "", linux),
    )


def _root(value: object, where: str) -> Root:
    d = obj(value, where)
    return Root(path=req_string(d, "path", where), readonly=flag(d, "readonly", where))


def _mount(value: object, where: str) -> Mount:
    d = obj(value, where)
    return Mount(
        destination=req_string(d, "destination", where),
        type=string(d, "type", where),
        source=string(d, "source", where),
        options=strings(d, "options", where),
        uid_mappings=array(d, "uidMappings", where, id_mapping),
        gid_mappings=array(d, "gidMappings", where, id_mapping),
    )


def _hooks(value: object, where: str) -> Hooks:
    d = obj(value, where)
    return Hooks(
        prestart=array(d, "prestart", where, _hook),
        create_runtime=array(d, "createRuntime", where, _hook),
        create_container=array(d, "createContainer", where, _hook),
        start_container=array(d, "startContainer", where, _hook),
        poststart=array(d, "poststart", where, _hook),
        poststop=array(d, "poststop", where, _hook),
    )


def _hook(value: object, where: str) -> Hook:
    d = obj(value, where)
    return Hook(
        path=req_string(d, "path", where),
        args=strings(d, "args", where),
        env=strings(d, "env", where),
        timeout=integer(d, "timeout", where, _TIMEOUT),
    )


# --- process -------------------------------------------------------------------------------


def _process(value: object, where: str) -> Process:
    d = obj(value, where)
    user = sub(d, "user", where, _user)
    return Process(
        cwd=req_string(d, "cwd", where),
        args=strings(d, "args", where),
        env=strings(d, "env", where),
        terminal=flag(d, "terminal", where),
        console_size=sub(d, "consoleSize", where, _box),
        user=User() if user is None else user,
        capabilities=sub(d, "capabilities", where, _capabilities),
        rlimits=array(d, "rlimits", where, _rlimit),
        no_new_privileges=flag(d, "noNewPrivileges", where),
        apparmor_profile=string(d, "apparmorProfile", where),
        # Go's `*int`; the kernel range -1000..1000 is checked by validate.
        oom_score_adj=integer(d, "oomScoreAdj", where, INT64),
        selinux_label=string(d, "selinuxLabel", where),
        scheduler=sub(d, "scheduler", where, _scheduler),
        io_priority=sub(d, "ioPriority", where, _io_priority),
        exec_cpu_affinity=sub(d, "execCPUAffinity", where, _cpu_affinity),
    )


def _box(value: object, where: str) -> Box:
    d = obj(value, where)
    return Box(
        height=req_integer(d, "height", where, UINT64),
        width=req_integer(d, "width", where, UINT64),
    )


def _user(value: object, where: str) -> User:
    d = obj(value, where)
    return User(
        uid=integer(d, "uid", where, UINT32) or 0,
        gid=integer(d, "gid", where, UINT32) or 0,
        umask=integer(d, "umask", where, UINT32),
        additional_gids=integers(d, "additionalGids", where, UINT32),
        username=string(d, "username", where),
    )


def _capabilities(value: object, where: str) -> LinuxCapabilities:
    d = obj(value, where)
    return LinuxCapabilities(
        bounding=strings(d, "bounding", where),
        effective=strings(d, "effective", where),
        inheritable=strings(d, "inheritable", where),
        permitted=strings(d, "permitted", where),
        ambient=strings(d, "ambient", where),
    )


def _rlimit(value: object, where: str) -> POSIXRlimit:
    d = obj(value, where)
    return POSIXRlimit(
        type=req_string(d, "type", where),
        hard=req_integer(d, "hard", where, UINT64),
        soft=req_integer(d, "soft", where, UINT64),
    )


def _scheduler(value: object, where: str) -> Scheduler:
    d = obj(value, where)
    return Scheduler(
        policy=req_string(d, "policy", where),
        nice=integer(d, "nice", where, INT32),
        priority=integer(d, "priority", where, INT32),
        flags=strings(d, "flags", where),
        runtime=integer(d, "runtime", where, UINT64),
        deadline=integer(d, "deadline", where, UINT64),
        period=integer(d, "period", where, UINT64),
    )


def _io_priority(value: object, where: str) -> LinuxIOPriority:
    d = obj(value, where)
    return LinuxIOPriority(
        class_=req_string(d, "class", where), priority=integer(d, "priority", where, INT32)
    )


def _cpu_affinity(value: object, where: str) -> CPUAffinity:
    d = obj(value, where)
    return CPUAffinity(initial=string(d, "initial", where), final=string(d, "final", where))
