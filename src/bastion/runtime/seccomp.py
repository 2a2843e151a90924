"""`linux.seccomp` → a libseccomp filter, loaded by the init; the SCMP_ACT_NOTIFY listener hand-off.

Semantics are runc's (libcontainer/specconv SetupSeccomp + libcontainer/seccomp InitSeccomp),
which crun shares, on top of runtime-spec config-linux.md "Seccomp":

- the default action is `defaultAction`; SCMP_ACT_ERRNO and SCMP_ACT_TRACE return
  `defaultErrnoRet` / `errnoRet`, EPERM when absent. SCMP_ACT_KILL is KILL_THREAD;
- the native arch is always in the filter; `architectures` are added to it;
- each name of `syscalls[i].names` gets the rule. A rule whose action equals the default action is
  skipped (libseccomp refuses it with EACCES). A name that libseccomp does not know at all (newer
  than the library) is skipped, as runc does ("unknown seccomp syscall ignored"): `Filter.skipped`
  lists them for a debug log. A name that libseccomp knows only for another arch (`_llseek`)
  applies to the filter's arches that have it;
- `args` are ANDed; when two of them test the same argument index, runc (and crun) fall back to
  one rule per condition (ORed) for the whole entry, since libseccomp refuses two conditions on
  one argument in a rule;
- flags: SECCOMP_FILTER_FLAG_TSYNC, _LOG, _SPEC_ALLOW set libseccomp's CTL_TSYNC, CTL_LOG and
  CTL_SSB attributes; _WAIT_KILLABLE_RECV needs libseccomp 2.6 (CTL_WAITKILL). recent runc also
  adds SPEC_ALLOW when `flags` is absent; here absent and empty read the same, so no flag is added
  (the kernel keeps its speculative-store-bypass mitigation: the safer choice);
- libseccomp's CTL_NNP attribute is off: the init sets no_new_privs itself when the spec asks.

Deliberate differences, stricter where runc fails late or is silently wrong (the checks are in
oci's validator): an errno libseccomp cannot encode (ERRNO above 4094, TRACE above 65535; runc
truncates to 16 bits, then fails in the init) and an errno on an action that returns none (crun
refuses it too; the spec says the runtime MUST fail) are errors before anything is created; a
syscall name that is not an identifier, or a rule none of whose names is a syscall, is an error
rather than "unknown". runc's BPF patch that
returns ENOSYS for syscalls newer than the profile (patchbpf) is not done: such calls get the
default action.

What the document alone can tell (actions, errnos, arches, flags, operators, names that cannot be
syscalls, the NOTIFY constraints) is checked once, by `bastion.oci.validate_spec`, before any
side effect; `check_names` (is any name of a rule a syscall this libseccomp knows) runs in
`create` right after it. `compile_filter` takes a validated object and fails only for what this
host's libseccomp refuses; it runs in the intermediate, `load` in the init.

One concern, the OCI seccomp object's effect, read top to bottom as check names -> plan ->
compile -> load -> hand the notify fd over; the parent's side of the hand-off is
`seccomp_agent.py`.
"""

from __future__ import annotations

import _socket
import os
import sys

from bastion import jsonio
from bastion._record import record
from bastion._sys import seccomp as _scmp
from bastion.oci.decode import SpecError
from bastion.oci.vocabulary import SECCOMP_ACTIONS, SECCOMP_ERRNO_MAX, SECCOMP_OPERATORS
from bastion.runtime.errors import RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import TypedDict

    from bastion.oci.spec import LinuxSeccomp, LinuxSyscall, Spec

    class ProcessState(TypedDict, total=False):
        """runtime-spec's container process state (config-linux.md "Seccomp"), as runc sends it
        (`metadata` only when set); `state` is the OCI state document."""

        ociVersion: str
        fds: list[str]
        pid: int
        metadata: str
        state: Mapping[str, object]


__all__ = [
    "CACHE_DIR",
    "INVALID",
    "UNKNOWN_SYSCALL",
    "Filter",
    "Rule",
    "check_seccomp",
    "compile_cached",
    "compile_filter",
    "container_process_state",
    "load",
    "plan_rules",
    "send_to_listener",
]

# A rule none of whose names this libseccomp knows (oci's validator uses it for a name that
# cannot be a syscall at all); what this host's libseccomp or kernel refuses to build.
UNKNOWN_SYSCALL = "seccomp-unknown-syscall"
INVALID = "seccomp-invalid"

_PATH = "linux.seccomp"
_EPERM = 1
_NOTIFY = "SCMP_ACT_NOTIFY"
_NOTIFY_VALUE = SECCOMP_ACTIONS[_NOTIFY]
# Flag → (libseccomp attribute, the libseccomp version that has it).
_FLAG_ATTRS: dict[str, tuple[int, tuple[int, int]]] = {
    "SECCOMP_FILTER_FLAG_TSYNC": (_scmp.ATTR_CTL_TSYNC, (2, 2)),
    "SECCOMP_FILTER_FLAG_LOG": (_scmp.ATTR_CTL_LOG, (2, 4)),
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": (_scmp.ATTR_CTL_SSB, (2, 5)),
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": (_scmp.ATTR_CTL_WAITKILL, (2, 6)),
}
# runc: libseccomp's binary-tree layout pays off past 32 rules (and 2.5.4 breaks with none).
_OPTIMIZE_ABOVE = 32
_LISTENER_TIMEOUT = 10.0


@record
class Rule:
    """One libseccomp rule: `action` for syscall `name` when every condition holds.

    A condition is (argument index, libseccomp `enum scmp_compare`, datum_a, datum_b); for
    SCMP_CMP_MASKED_EQ datum_a is the mask (OCI `value`) and datum_b the expected value
    (`valueTwo`), as libseccomp-golang's MakeCondition passes them for runc. `where` is the
    JSON path of the `syscalls` entry the rule comes from.
    """

    name: str
    action: int
    conditions: tuple[tuple[int, int, int, int], ...]
    where: str


class Filter:
    """A compiled libseccomp context, ready for `load`; `release` it if it is not loaded.

    `notify` says whether it has SCMP_ACT_NOTIFY rules (so `load` returns a listener fd);
    `skipped` lists the syscall names libseccomp did not know (runc logs them at debug level).
    """

    __slots__ = ("ctx", "notify", "program", "rules", "skipped")

    def __init__(
        self,
        ctx: int,
        rules: tuple[Rule, ...],
        skipped: tuple[str, ...],
        program: bytes | None = None,
    ) -> None:
        self.ctx = ctx
        self.rules = rules
        self.skipped = skipped
        self.notify = any(rule.action == _NOTIFY_VALUE for rule in rules)
        #: The generated BPF program when `ctx` is 0 (`compile_cached`): `load` installs it as
        #: is, without libseccomp's generation.
        self.program = program

    def release(self) -> None:
        if self.ctx:
            _scmp.release(self.ctx)
            self.ctx = 0

    def export_bpf(self) -> bytes:
        """The BPF program libseccomp generates (for tests and debugging)."""
        return _scmp.export_bpf(self._live())

    def export_pfc(self) -> str:
        """libseccomp's readable pseudo filter code (for tests and debugging)."""
        return _scmp.export_pfc(self._live())

    def _live(self) -> int:
        if not self.ctx:
            raise ValueError("the seccomp filter was released")
        return self.ctx


# --- what needs libseccomp: names; planning a validated object -----------------------------


def check_seccomp(spec: Spec) -> None:
    """`check_names(spec.linux.seccomp)` when there is one: for `create` and `exec`, after
    `oci.validate_spec` and before any side effect."""
    seccomp = spec.linux.seccomp if spec.linux is not None else None
    if seccomp is not None:
        check_names(seccomp)


def check_names(seccomp: LinuxSeccomp) -> None:
    """A rule none of whose names libseccomp knows is an error (a typo such as "mkdri").

    A rule where only *some* names are unknown keeps runc's behaviour: those are skipped, since
    profiles such as Docker's default name syscalls newer than this host's libseccomp (nine of
    them with libseccomp 2.5.4), and refusing them would refuse the profile.
    """
    for index, syscall in enumerate(seccomp.syscalls):
        if syscall.names and all(_scmp.syscall_resolve_name(n) is None for n in syscall.names):
            raise SpecError(
                f"unknown syscall {syscall.names[0]!r} (no name of this rule is a syscall "
                "libseccomp knows)",
                where=f"{_PATH}.syscalls[{index}].names[0]",
                hint="check the spelling against syscalls(2)",
                reference=UNKNOWN_SYSCALL,
            )


def plan_rules(seccomp: LinuxSeccomp) -> tuple[Rule, ...]:
    """The libseccomp rules `syscalls` stands for, in order.

    `seccomp` must have passed `oci.validate_spec` (an unknown action or operator is a KeyError
    here). Pure: no name is resolved. Rules whose action is the default action are left out.
    """
    default = _action_value(seccomp.default_action, seccomp.default_errno_ret)
    rules: list[Rule] = []
    for i, syscall in enumerate(seccomp.syscalls):
        action = _action_value(syscall.action, syscall.errno_ret)
        if action == default:
            continue  # runc: redundant, and libseccomp would refuse it
        where = f"{_PATH}.syscalls[{i}]"
        groups = _condition_groups(syscall)
        for name in syscall.names:
            rules.extend(
                Rule(name=name, action=action, conditions=group, where=where) for group in groups
            )
    return tuple(rules)


def _action_value(name: str, errno_ret: int | None) -> int:
    """The SECCOMP_RET_* value of action `name` with its errno (EPERM when absent, as runc)."""
    base = SECCOMP_ACTIONS[name]
    if name not in SECCOMP_ERRNO_MAX:
        return base
    return base | (_EPERM if errno_ret is None else errno_ret)


def _condition_groups(syscall: LinuxSyscall) -> tuple[tuple[tuple[int, int, int, int], ...], ...]:
    """The condition sets of one entry: one ANDed set, or one set per condition (runc)."""
    conditions = tuple(
        (arg.index, SECCOMP_OPERATORS[arg.op], arg.value, arg.value_two) for arg in syscall.args
    )
    if len({c[0] for c in conditions}) < len(conditions):
        return tuple((c,) for c in conditions)
    return (conditions,)


def _invalid(where: str, message: str, hint: str | None = None) -> SpecError:
    return SpecError(message, where=where, hint=hint, reference=INVALID)


# --- compile and load ----------------------------------------------------------------------


def compile_filter(seccomp: LinuxSeccomp) -> Filter:
    """Build the libseccomp filter of a validated `seccomp` (no privilege needed, nothing loaded).

    Raises `SpecError` (seccomp-invalid) for what this host's libseccomp or kernel cannot do (an
    architecture or flag it lacks, NOTIFY below API level 6, a rule it refuses) and
    `RuntimeFailure` when libseccomp itself fails.
    """
    default = _action_value(seccomp.default_action, seccomp.default_errno_ret)
    rules = plan_rules(seccomp)
    if any(rule.action == _NOTIFY_VALUE for rule in rules) and _scmp.api_level() < 6:
        raise _invalid(
            _PATH,
            f"SCMP_ACT_NOTIFY needs libseccomp API level 6, this one has {_scmp.api_level()}",
            "libseccomp 2.5+ and Linux 5.7+",
        )
    try:
        ctx = _scmp.init(default)
    except OSError as exc:
        raise RuntimeFailure(f"cannot create the seccomp filter: {_why(exc)}") from None
    try:
        _set_attributes(ctx, seccomp, len(rules))
        _add_arches(ctx, seccomp)
        skipped = _add_rules(ctx, rules)
    except BaseException:
        _scmp.release(ctx)
        raise
    return Filter(ctx, rules, skipped)


#: Under the runtime root (a dot name: never a container id): generated programs by key.
CACHE_DIR = ".seccomp"


def compile_cached(seccomp: LinuxSeccomp, cache_root: str) -> Filter:
    """`compile_filter`, through a cache of generated programs in `<cache_root>/.seccomp/`.

    libseccomp generates the BPF program of Docker's default profile (~380 rules) in ~10 ms at
    every `seccomp_load`, and adding the rules costs ~4 ms more: the same work for every
    container of an engine that uses one profile (crun caches it the same way). The key is the
    whole decoded object (its record's repr: every field), libseccomp's version and the native
    arch; the program is what `seccomp_export_bpf` writes, which is what `seccomp_load` would
    have generated, and `load` installs it with prctl(PR_SET_SECCOMP) as libseccomp does for a
    filter without flags. Filters with flags or SCMP_ACT_NOTIFY rules (a listener fd, TSYNC,
    LOG...) are not cached: libseccomp loads those. A cache that cannot be written is only
    slower; an unreadable entry is a miss.
    """
    if seccomp.flags or any(s.action == _NOTIFY for s in seccomp.syscalls):
        return compile_filter(seccomp)
    key = _cache_key(seccomp)
    directory = os.path.join(cache_root, CACHE_DIR)
    path = os.path.join(directory, key)
    try:
        with open(path, "rb") as f:
            program = f.read()
    except OSError:
        program = b""
    if program and len(program) % 8 == 0:
        return Filter(0, (), (), program)
    compiled = compile_filter(seccomp)
    try:
        program = compiled.export_bpf()
    finally:
        compiled.release()
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, program)
        finally:
            os.close(fd)
        os.rename(tmp, path)  # whole or absent, for a concurrent create
    except OSError:
        pass
    return Filter(0, compiled.rules, compiled.skipped, program)


def _cache_key(seccomp: LinuxSeccomp) -> str:
    text = f"{_scmp.version()} {_scmp.arch_native()} {seccomp!r}".encode()
    try:
        import _sha256  # type: ignore[import-not-found]  # built in: hashlib loads OpenSSL

        digest: str = _sha256.sha256(text).hexdigest()
    except ImportError:  # pragma: no cover - a Python built without it
        import hashlib

        digest = hashlib.sha256(text).hexdigest()
    return digest


def _set_attributes(ctx: int, seccomp: LinuxSeccomp, n_rules: int) -> None:
    try:
        # Errors from seccomp_load as the kernel's errno, not libseccomp's -ECANCELED.
        _scmp.attr_set(ctx, _scmp.ATTR_API_SYSRAWRC, 1, "API_SYSRAWRC")
        # no_new_privs is the spec's process.noNewPrivileges, set by the init (runc does so).
        _scmp.attr_set(ctx, _scmp.ATTR_CTL_NNP, 0, "CTL_NNP")
        if n_rules > _OPTIMIZE_ABOVE:
            _scmp.attr_set(ctx, _scmp.ATTR_CTL_OPTIMIZE, 2, "CTL_OPTIMIZE")
    except OSError as exc:
        raise RuntimeFailure(f"cannot configure the seccomp filter: {_why(exc)}") from None
    if not seccomp.flags:
        return
    # The version switch: an attribute newer than this libseccomp is refused by name rather than
    # by whatever error an older library gives for an attribute number it does not know.
    have = _scmp.version()
    for i, flag in enumerate(seccomp.flags):
        attr, since = _FLAG_ATTRS[flag]
        where = f"{_PATH}.flags[{i}]"
        if have[:2] < since:
            raise _invalid(
                where,
                f"{flag} needs libseccomp {since[0]}.{since[1]} or later",
                f"this host has libseccomp {'.'.join(map(str, have))}",
            )
        try:
            _scmp.attr_set(ctx, attr, 1, flag)
        except OSError as exc:
            raise _invalid(
                where,
                f"{flag} is not supported here ({_why(exc)})",
                "this kernel may lack the flag (seccomp(2))",
            ) from None


def _add_arches(ctx: int, seccomp: LinuxSeccomp) -> None:
    for i, arch in enumerate(seccomp.architectures):
        token = _scmp.arch_resolve_name(_arch_name(arch))
        if not token:
            have = ".".join(map(str, _scmp.version()))
            raise _invalid(
                f"{_PATH}.architectures[{i}]",
                f"{arch} is not supported by libseccomp {have}",
            )
        try:
            if not _scmp.arch_exist(ctx, token):
                _scmp.arch_add(ctx, token, arch)
        except OSError as exc:
            hint = None
            if exc.errno == 33:  # EDOM
                hint = "libseccomp cannot mix big- and little-endian arches in one filter"
            raise _invalid(
                f"{_PATH}.architectures[{i}]", f"cannot add {arch}: {_why(exc)}", hint
            ) from None


def _why(exc: OSError) -> str:
    """The errno's text alone (the `_sys` message also names the call, which users do not need)."""
    return os.strerror(exc.errno) if exc.errno else str(exc)


def _arch_name(oci: str) -> str:
    """libseccomp's name of an OCI arch: SCMP_ARCH_X86_64 → x86_64, SCMP_ARCH_MIPSEL64 → ..."""
    return oci.removeprefix("SCMP_ARCH_").lower()


def _add_rules(ctx: int, rules: tuple[Rule, ...]) -> tuple[str, ...]:
    skipped: dict[str, None] = {}
    numbers: dict[str, int | None] = {}
    for rule in rules:
        name = rule.name
        if name not in numbers:
            numbers[name] = _scmp.syscall_resolve_name(name)
        nr = numbers[name]
        if nr is None:
            skipped[name] = None  # runc: "unknown seccomp syscall %q ignored" (debug)
            continue
        try:
            _scmp.rule_add(ctx, rule.action, nr, rule.conditions, name)
        except OSError as exc:
            raise _invalid(
                rule.where, f"libseccomp refused the rule for {name}: {_why(exc)}"
            ) from None
    return tuple(skipped)


def load(filter: Filter) -> int | None:
    """Install `filter` on the calling process; return its notify fd (SCMP_ACT_NOTIFY) or None.

    Call it from the container's init, and mind the order (runc's standard_init_linux.go):

    - `process.noNewPrivileges` false: loading a filter needs CAP_SYS_ADMIN (seccomp(2)), so load
      it *before* the capabilities are dropped (before `switch_user`'s bounding-set cut and
      `capabilities.apply_sets`);
    - `process.noNewPrivileges` true: set no_new_privs first, then load as late as possible, just
      before the init tells the parent it is ready, so the fewest of the runtime's own syscalls run
      under the container's filter.

    Either way it must happen before the "ready" message, so that a notify fd can be passed to
    the parent (which calls `send_to_listener`) while `create` still runs. With SCMP_ACT_NOTIFY
    the init may block in a syscall the agent handles until the agent answers.

    The filter is released afterwards (the notify fd stays open; it is the caller's).
    """
    try:
        if filter.program is not None:
            _scmp.load_program(filter.program)
            return None  # no notify rules (`compile_cached`)
        _scmp.load(filter._live())
        fd = _scmp.notify_fd(filter.ctx) if filter.notify else None
    except OSError as exc:
        raise load_failure(exc) from None
    finally:
        filter.release()
    if filter.notify and fd is None:
        raise RuntimeFailure(
            "the seccomp filter has SCMP_ACT_NOTIFY rules but no notify fd",
            where=_PATH,
            reference="seccomp-load-failed",
        )
    return fd


def load_failure(exc: OSError) -> RuntimeFailure:
    """The error of a filter the kernel refused (also the compiled init's: init/plan.py)."""
    hint = None
    if exc.errno == 13:
        hint = "without noNewPrivileges the filter must be loaded while CAP_SYS_ADMIN is held"
    return RuntimeFailure(
        f"cannot load the seccomp filter: {_why(exc)}",
        where=_PATH,
        hint=hint,
        reference="seccomp-load-failed",
    )


# --- SCMP_ACT_NOTIFY: hand the fd to the agent ---------------------------------------------


def container_process_state(
    *, state: Mapping[str, object], pid: int, metadata: str | None, oci_version: str
) -> ProcessState:
    """runtime-spec's "container process state" (config-linux.md "Seccomp"): what the agent gets.

    `state` is the OCI state document (ociVersion, id, status, pid, bundle, annotations);
    `metadata` is linux.seccomp.listenerMetadata (left out when empty, as runc does).
    """
    doc: ProcessState = {"ociVersion": oci_version, "fds": ["seccompFd"], "pid": pid}
    if metadata:
        doc["metadata"] = metadata
    doc["state"] = state
    return doc


def send_to_listener(path: str, notify_fd: int, process_state: ProcessState) -> None:
    """Connect to the agent's socket at `path` and send the state JSON with the fd (SCM_RIGHTS).

    One `sendmsg` on a SOCK_STREAM connection, as runc's sendContainerProcessState does;
    `process_state` is `container_process_state(...)`'s document. The fd stays open here.
    """
    data = jsonio.dumps(process_state).encode()
    rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, notify_fd.to_bytes(4, sys.byteorder))]
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(_LISTENER_TIMEOUT)
        sock.connect(path)
        sent = sock.sendmsg([data], rights)
        if sent != len(data):
            sock.sendall(data[sent:])
    except OSError as exc:
        raise RuntimeFailure(
            f"cannot send the seccomp notify fd to the agent at {path!r}: {exc.strerror or exc}",
            where=f"{_PATH}.listenerPath",
            hint="is the seccomp agent listening on this socket?",
            reference="seccomp-listener-failed",
        ) from None
    finally:
        sock.close()
