"""The kernel-side open filter: which opens the probe may keep to itself, derived from the rules.

A flood of read-only opens of ``/dev/null`` or of shared libraries costs the sensor the same
decode, state and rule work as an attack, for events no rule can match. This module compiles,
from the loaded rules, a set of path classes (`PathClass`: a prefix such as ``/usr/lib/`` or an
exact path such as ``/dev/null``) that the probe then applies (``bst_open_paths``,
bastion.bpf.c's ``bst_open_filtered``): a successful open, openat or openat2 of a regular file
or a character device, whose flags carry none of `DENY_FLAGS` (so: read-only, no create,
truncate, append, directory, tmpfile or O_PATH), whose path is absolute, at most
`PATH_MAX_FILTERED` bytes, holds no ``/.`` (so no ``..`` can lead it out of its class) and lies
in one of the classes is counted and not sent.

A candidate class is kept only when it is provably safe (`compile_filter`), by a three-valued
evaluation of every enabled rule's condition (macros expanded, lists resolved, exceptions
included) over what is known of such an event:

1. **The open itself**: for each open type a rule can match (or any type), the condition must
   be false for every path of the class and every allowed flag combination. Path fields
   (``fd.name``, ``fd.nameraw``, ``evt.arg.name``, ``fd.directory``, ``fd.filename``) are
   evaluated symbolically over the class (a prefix is a set of strings); the flag fields by the
   real field getters on every allowed flag combination; ``evt.type`` exactly; anything else is
   unknown, and "unknown" is never taken as false.
2. **Later events on the fd**: the filtered fd is absent from the state's fd table, so later
   events that use or close it (and dup's copy of it) see no fd instead of a file of the
   class. For each rule on such an event type, every check that reads the fd table must have
   the same definite value in both cases (a file of the class, or no fd: the values are the
   real getters' on a synthetic event), and a rule whose output shows fd fields must be false
   when the fd is a file of the class, so no alert's text can change.
3. **Fields over the whole table** (``proc.fdopencount``, ``proc.stdin.*``...) or a rule whose
   output the compiler cannot read disable the filter entirely.

What the state needs beyond the rules: directories (and namespace, pidfd and anonymous-inode
files reopened by path) are never filtered (a directory fd is the
base of later ``*at`` paths and of ``fchdir``), and nothing but opens is filtered, so every fd
the state can be asked about again was either sent or is simply unknown to it (a close of a
never-sent fd removes nothing: `state.on_files.on_close`). One gap is inherited, not made: an
fd number whose close the state never saw (``close_range`` is not captured) keeps its stale
entry where an unfiltered open of the same number would have replaced it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

from bastion.errors import BastionError
from bastion.sensor.events.flags import from_kernel
from bastion.sensor.events.model import Direction, Event, ParamType
from bastion.sensor.events.schema import BY_NAME, EVENTS
from bastion.sensor.probe.header import open_filter_events
from bastion.sensor.probe.loader import OpenFilter
from bastion.sensor.rules import ops
from bastion.sensor.rules.ast import (
    And,
    BinaryCheck,
    Expr,
    FieldRef,
    FieldValue,
    Identifier,
    ListValue,
    Literal,
    Not,
    Or,
    UnaryCheck,
)
from bastion.sensor.rules.compiler import (
    FieldTable,
    compile_condition,
    expand_list,
    names_a_list,
)
from bastion.sensor.rules.engine import CompiledRule, RuleEngine
from bastion.sensor.rules.exceptions import exception_text
from bastion.sensor.rules.model import RuleSet
from bastion.sensor.rules.ops import MISSING
from bastion.sensor.rules.parser import parse_condition
from bastion.sensor.state.fd_use import uses_fd
from bastion.sensor.state.model import Fd, FdType, Thread

#: The open-family events the probe can filter (those with both a path and a flags parameter;
#: `creat` always writes). bastion_events.h's BST_OPEN_FILTER_EVENTS lists the same ones.
OPEN_EVENTS: tuple[str, ...] = tuple(e.name for e in open_filter_events())
#: The kernel's open flags (raw values) that make an open ineligible: any access but read, and
#: anything that creates, truncates, appends, opens a directory or a tmpfile, or only a path.
DENY_FLAGS = {
    "O_WRONLY": 0o1,
    "O_RDWR": 0o2,
    "O_CREAT": 0o100,
    "O_EXCL": 0o200,
    "O_TRUNC": 0o1000,
    "O_APPEND": 0o2000,
    "O_DIRECTORY": 0o200000,
    "O_PATH": 0o10000000,
    "O_TMPFILE": 0o20000000,
}
DENY_MASK = sum(DENY_FLAGS.values())
#: Raw flags an eligible open may carry (each combination is tried by the analysis; the
#: decoder drops the bits Falco has no name for).
ALLOWED_FLAGS = {
    "O_NONBLOCK": 0o4000,
    "O_DSYNC": 0o10000,
    "O_DIRECT": 0o40000,
    "O_LARGEFILE": 0o100000,
    "O_NOFOLLOW": 0o400000,
    "O_NOATIME": 0o1000000,
    "O_CLOEXEC": 0o2000000,
    "O_SYNC": 0o4010000,
}
#: Longest path (with its NUL) the probe compares; longer ones are sent.
PATH_MAX_FILTERED = 256
#: Entries of the probe's bst_open_paths map, and the longest class it holds.
MAX_CLASSES = 16
MAX_CLASS_LEN = 64


@dataclass(frozen=True, slots=True)
class PathClass:
    """Paths under `path` (a prefix ending in ``/``), or `path` itself when `exact`."""

    path: str
    exact: bool = False

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or "/." in self.path or "//" in self.path:
            raise ValueError(f"a path class must be an absolute folded path: {self.path!r}")
        if not self.exact and not self.path.endswith("/"):
            raise ValueError(f"a prefix class must end with '/': {self.path!r}")
        if len(self.path.encode()) > MAX_CLASS_LEN:
            raise ValueError(f"a path class is at most {MAX_CLASS_LEN} bytes: {self.path!r}")

    def __str__(self) -> str:
        return self.path if self.exact else self.path + "*"


#: What the probe may filter when the rules allow it: paths read in bulk by every process
#: (shared libraries and their data, /proc and /sys, the null and random devices).
CANDIDATES: tuple[PathClass, ...] = (
    PathClass("/dev/null", exact=True),
    PathClass("/dev/zero", exact=True),
    PathClass("/dev/urandom", exact=True),
    PathClass("/dev/random", exact=True),
    PathClass("/etc/ld.so.cache", exact=True),
    PathClass("/etc/localtime", exact=True),
    PathClass("/usr/lib/"),
    PathClass("/usr/lib64/"),
    PathClass("/lib/"),
    PathClass("/lib64/"),
    PathClass("/usr/share/"),
    PathClass("/usr/local/lib/"),
    PathClass("/proc/self/"),
    PathClass("/proc/"),
    PathClass("/sys/"),
)


@dataclass(frozen=True, slots=True)
class KernelFilter:
    """What `compile_filter` derived: the classes the probe may filter, and for each candidate
    left out the first rule that needs it (or why the filter is off altogether)."""

    classes: tuple[PathClass, ...]
    kept: dict[str, str] = field(default_factory=dict)  # class -> why it is sent
    disabled: str | None = None
    closes: bool = False  # the closes of the kept-back opens' fds are kept back too
    closes_sent: str | None = None  # why they are not

    def open_filter(self) -> OpenFilter | None:
        """What the probe is given (None: nothing to filter)."""
        if not self.classes:
            return None
        paths = tuple((c.path, c.exact) for c in self.classes)
        return OpenFilter(paths, DENY_MASK, closes=self.closes)

    def describe(self) -> str:
        """One line for the operator: what is filtered, or why nothing is."""
        if self.disabled:
            return f"kernel filter off: {self.disabled}"
        shown = ", ".join(str(c) for c in self.classes) or "nothing"
        closes = " and their closes" if self.closes and self.classes else ""
        return f"kernel filter: read-only opens of {shown}{closes}"


# --- three-valued logic ------------------------------------------------------------------------

Tri = bool | None  # True, False, or None: unknown


def _not(a: Tri) -> Tri:
    return None if a is None else not a


def _join(values: Iterable[Tri]) -> Tri:
    """One value for a check that holds for each member of a set: the common value or unknown."""
    seen = set(values)
    return seen.pop() if len(seen) == 1 else None


# --- abstract string values ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Exact:
    text: str


@dataclass(frozen=True, slots=True)
class Prefix:
    """Every string that starts with `text` and is longer (a file under a directory)."""

    text: str


Member = Exact | Prefix


@dataclass(frozen=True, slots=True)
class Strings:
    """A field's possible values: the union of its members."""

    members: tuple[Member, ...]


class _Unknown:
    pass


UNKNOWN = _Unknown()
Abstract = Strings | _Unknown | object  # object: one concrete value (MISSING included)


def _components(path: str) -> tuple[str, ...]:
    return tuple(p for p in path.split("/") if p)


#: What no filtered path holds (the probe sends any path with one): so no ``..`` component, no
#: hidden file or ``.`` component, and no check on a text holding one can match.
FORBIDDEN = ("/.", "..")


def _forbidden(text: str) -> bool:
    return any(f in text for f in FORBIDDEN)


def _glob_literals(pattern: str) -> tuple[str, list[str]]:
    """A glob's text before its first wildcard, and every run of literal text in it."""
    runs: list[str] = []
    current: list[str] = []
    lead: str | None = None
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c in "*?[":
            if lead is None:
                lead = "".join(current)
            runs.append("".join(current))
            current = []
            if c == "[":
                close = pattern.find("]", i + 2)
                i = len(pattern) if close < 0 else close
        else:
            current.append(c)
        i += 1
    runs.append("".join(current))
    return ("".join(current) if lead is None else lead), runs


def _prefix_check(prefix: str, op: str, texts: Sequence[str]) -> Tri:
    """`op texts` on every string under `prefix` (longer than it, absolute, without any of
    `FORBIDDEN`)."""
    if op in ("=", "==", "in", "intersects"):
        could = any(t.startswith(prefix) and t != prefix and not _forbidden(t) for t in texts)
        return None if could else False
    if op == "!=":
        return _not(_prefix_check(prefix, "=", texts))
    if op == "startswith":
        (t,) = texts
        if prefix.startswith(t):
            return True
        return None if t.startswith(prefix) and not _forbidden(t) else False
    if op == "contains":
        (t,) = texts
        if t in prefix:
            return True
        return False if _forbidden(t) else None
    if op == "glob":
        (t,) = texts
        lead, runs = _glob_literals(t)
        if any(_forbidden(run) for run in runs):
            return False
        if not (lead.startswith(prefix) or prefix.startswith(lead)):
            return False
        return None
    if op == "pmatch":
        mine = _components(prefix)
        result: Tri = False
        for t in texts:
            theirs = _components(t)
            if mine[: len(theirs)] == theirs:
                return True  # every path under the prefix is under t
            if theirs[: len(mine)] == mine:
                result = None  # some paths under the prefix are under t
        return result
    return None


def _member_check(member: Member, op: str, texts: Sequence[str]) -> Tri:
    if isinstance(member, Exact):
        try:
            return bool(ops.make_predicate(op, texts)(member.text))
        except (ops.OperandError, KeyError):
            return None
    return _prefix_check(member.text, op, texts)


def _path_values(cls: PathClass) -> dict[str, Abstract]:
    """The path fields of an fd (or open event) whose name lies in `cls`."""
    if cls.exact:
        name: Strings = Strings((Exact(cls.path),))
        directory = Strings((Exact(posixpath.dirname(cls.path) or "/"),))
        filename: Abstract = Strings((Exact(posixpath.basename(cls.path)),))
    else:
        name = Strings((Prefix(cls.path),))
        directory = Strings((Exact(cls.path.rstrip("/") or "/"), Prefix(cls.path)))
        filename = UNKNOWN
    return {
        "fd.name": name,
        "fd.nameraw": name,
        "fd.directory": directory,
        "fd.filename": filename,
        "fd.typechar": "f",  # no O_DIRECTORY: the state makes it a file fd
        "fd.type": FdType.FILE,
    }


# --- the evaluator -------------------------------------------------------------------------------


@dataclass
class World:
    """What is known of an event: `values` by field name (anything else is unknown), and
    `checks`, a hook deciding whole checks on some fields (the flag fields)."""

    values: Mapping[str, Abstract]
    macros: Mapping[str, Expr]
    lists: Mapping[str, Sequence[str]]
    flag_events: Sequence[Event] = ()
    memo: dict[str, Tri] = field(default_factory=dict)

    def expr(self, node: Expr) -> Tri:
        if isinstance(node, And):
            result: Tri = True
            for child in node.children:
                value = self.expr(child)
                if value is False:
                    return False
                if value is None:
                    result = None
            return result
        if isinstance(node, Or):
            result = False
            for child in node.children:
                value = self.expr(child)
                if value is True:
                    return True
                if value is None:
                    result = None
            return result
        if isinstance(node, Not):
            return _not(self.expr(node.child))
        if isinstance(node, Identifier):
            if node.name not in self.memo:
                macro = self.macros.get(node.name)
                self.memo[node.name] = None  # a cycle (refused at load anyway) stays unknown
                self.memo[node.name] = None if macro is None else self.expr(macro)
            return self.memo[node.name]
        return self.check(node)

    def texts(self, node: BinaryCheck) -> list[str] | None:
        value = node.value
        if isinstance(value, Literal):
            if names_a_list(node, self.lists):
                return expand_list(value.text, self.lists)
            return [value.text]
        if isinstance(value, Identifier):
            return expand_list(value.name, self.lists) if value.name in self.lists else [value.name]
        if isinstance(value, ListValue):
            out: list[str] = []
            for item in value.items:
                if isinstance(item, Identifier) and item.name in self.lists:
                    out.extend(expand_list(item.name, self.lists))
                else:
                    out.append(item.name if isinstance(item, Identifier) else item.text)
            return out
        return None  # a field on the right-hand side

    def check(self, node: BinaryCheck | UnaryCheck) -> Tri:
        ref = node.field
        name = field_name(ref)
        if name in _FLAG_FIELDS and self.flag_events:
            return self.by_getters(node)
        value = self.values.get(name, UNKNOWN) if not ref.transformers else UNKNOWN
        if isinstance(node, UnaryCheck):  # exists
            if value is UNKNOWN:
                return None
            return value is not MISSING
        if value is MISSING:
            return False  # a check on an unreadable field is false
        if value is UNKNOWN or isinstance(node.value, FieldValue):
            return None
        texts = self.texts(node)
        if texts is None:
            return None
        op = node.op
        negate = False
        if isinstance(node.value, Literal) and names_a_list(node, self.lists):
            negate, op = node.op == "!=", "in"
        if isinstance(value, Strings):
            result = _join(_member_check(m, op, texts) for m in value.members)
        else:
            try:
                result = bool(ops.make_predicate(op, texts)(value))
            except (ops.OperandError, KeyError):
                return None
        return _not(result) if negate else result

    def by_getters(self, node: BinaryCheck | UnaryCheck) -> Tri:
        """A check on flag fields, run by the real compiled check on every allowed flag
        combination."""
        try:
            compiled = compile_condition(node, macros={}, lists=self.lists, fields=field_registry())
        except BastionError:  # a check the compiler refuses stays unknown
            return None
        return _join(bool(compiled(evt)) for evt in self.flag_events)


_REGISTRY: list[FieldTable] = []


def field_registry() -> FieldTable:
    """The real field table (over an empty state: the flag fields read only the event)."""
    if not _REGISTRY:
        from bastion.sensor.fields.registry import FieldRegistry
        from bastion.sensor.state import SensorState

        _REGISTRY.append(FieldRegistry(SensorState()))
    return _REGISTRY[0]


def field_name(ref: FieldRef) -> str:
    return ref.name if ref.arg is None else f"{ref.name}[{ref.arg}]"


_FLAG_FIELDS = frozenset(
    {
        "evt.is_open_read",
        "evt.is_open_write",
        "evt.is_open_create",
        "evt.is_open_exec",
        "evt.arg.flags",
        "evt.rawarg.flags",
    }
)


def _flag_combinations() -> Iterator[int]:
    bits = tuple(ALLOWED_FLAGS.values())
    for n in range(len(bits) + 1):
        for chosen in combinations(bits, n):
            yield sum(chosen)


def _open_events(event_type: str) -> list[Event]:
    """One synthetic exit of `event_type` per allowed flag combination (flags decoded as the
    decoder does), with every other parameter absent."""
    spec = BY_NAME[event_type]
    out = []
    seen: set[int] = set()
    for raw in _flag_combinations():
        flags = from_kernel("file_flags", raw)
        if flags in seen:
            continue
        seen.add(flags)
        out.append(
            Event(
                0,
                0,
                0,
                1,
                1,
                event_type,
                Direction.EXIT,
                spec.category,
                {"flags": flags},
                spec.specs,
                res=3,
            )
        )
    return out


# --- fields that read the fd table ---------------------------------------------------------------

#: Fields that read the whole fd table (not the event's fd): any use turns the filter off.
TABLE_FIELDS = ("proc.fdopencount", "proc.stdin", "proc.stdout", "proc.stderr")


def _reads_table(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in TABLE_FIELDS)


def _fd_dependent(name: str, event_type: str | None) -> bool:
    """Whether `name` on an event of `event_type` (None: any) can read the fd table."""
    if name.startswith("fd."):
        return True
    if name in ("evt.args", "evt.info") or name.startswith("evt.arg["):
        return True  # an fd parameter renders with the fd's name
    if name.startswith("evt.arg."):
        param = name[len("evt.arg.") :]
        specs = [BY_NAME[event_type]] if event_type in BY_NAME else list(EVENTS)
        return any(param in s.specs and s.specs[param].type == ParamType.FD for s in specs)
    return False


def _fields_in(expr: Expr, macros: Mapping[str, Expr]) -> set[str]:
    out: set[str] = set()
    seen: set[str] = set()
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, And | Or):
            stack.extend(node.children)
        elif isinstance(node, Not):
            stack.append(node.child)
        elif isinstance(node, Identifier):
            if node.name not in seen and node.name in macros:
                seen.add(node.name)
                stack.append(macros[node.name])
        else:
            out.add(field_name(node.field))
            if isinstance(node, BinaryCheck) and isinstance(node.value, FieldValue):
                out.add(field_name(node.value.field))
    return out


def _fd_event_types() -> tuple[str, ...]:
    """Event types whose fd comes from the table: the ones that use or close an fd, and dup,
    which copies one (others that create an fd make a fresh entry)."""
    return tuple(
        e.name
        for e in EVENTS
        if e.name not in OPEN_EVENTS
        and (uses_fd(e.name, Direction.EXIT) or e.handler in ("dup", "close"))
    )


#: Calls that always fail when their fd is a file the probe may filter (a regular file or a
#: character device, never on nsfs, pidfs or the anonymous-inode fs), with the errno the
#: kernel gives: setns takes only a namespace fd or a pidfd (kernel/nsproxy.c: else EINVAL).
FAILS_ON_FILE = {"setns": 22}


def _synthetic(event_type: str, fd: Fd | None) -> Event:
    spec = BY_NAME[event_type]
    evt = Event(0, 0, 0, 1, 1, event_type, Direction.EXIT, spec.category, {}, spec.specs, res=0)
    evt.thread = Thread(tid=1, pid=1)
    evt.fd = fd
    return evt


def _fd_worlds(event_type: str, cls: PathClass) -> tuple[dict[str, Abstract], dict[str, Abstract]]:
    """The fd fields of an `event_type` event whose fd is a file of `cls` (sent), and whose fd
    is not in the table (filtered): the real getters on synthetic events, except the path
    fields (symbolic for the file) and what depends on parameters the synthetic event lacks."""
    from bastion.sensor.fields import fd as fd_fields
    from bastion.sensor.fields import paths

    sent = _synthetic(event_type, Fd(num=3, type=FdType.FILE, name="/", flags=1))
    absent = _synthetic(event_type, None)
    with_file: dict[str, Abstract] = {}
    without: dict[str, Abstract] = {}
    varies_by_file = {"fd.dev", "fd.dev.major", "fd.dev.minor", "fd.ino", "fd.is_upper_layer"}
    for f in fd_fields.FIELDS:
        get = field_registry().resolve(f.name, None)
        assert get is not None  # every fd field takes no argument
        with_file[f.name] = UNKNOWN if f.name in varies_by_file else get(sent)
        without[f.name] = get(absent)
    with_file.update(_path_values(cls))
    # what an absent fd's name is made of: the event's own path or tuple parameters, which the
    # synthetic event lacks (libsinsp's extract_fdname_from_event; "" for other events)
    from_params = event_type in paths.PATH_PARAMS or event_type in fd_fields.TUPLE_EVENTS
    if from_params:
        for name in ("fd.name", "fd.directory", "fd.nameraw"):
            without[name] = UNKNOWN
    # fd.num is the event's own fd number either way, except for dup (the new fd, or the old)
    same_num = BY_NAME[event_type].handler != "dup"
    with_file["fd.num"] = without["fd.num"] = "same" if same_num else UNKNOWN
    errno = FAILS_ON_FILE.get(event_type)
    if errno is not None:  # the call failed: its result fields are known, in both cases
        failed = _synthetic(event_type, None)
        failed.res = -errno
        for name in ("evt.res", "evt.rawres", "evt.failed"):
            get = field_registry().resolve(name, None)
            assert get is not None
            with_file[name] = without[name] = get(failed)
    return with_file, without


# --- the compiler --------------------------------------------------------------------------------


def rule_expr(rule: CompiledRule, lists: Mapping[str, Sequence[str]]) -> Expr:
    """The rule's condition with its exceptions, as the engine runs it."""
    definition = rule.definition
    parts: list[Expr] = [definition.expr]
    for item in definition.exceptions:
        text = exception_text(item, {k: tuple(v) for k, v in lists.items()})
        if text is not None:
            parts.append(Not(parse_condition(text)))
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _output_fields(rule: CompiledRule) -> set[str] | None:
    names = getattr(rule.output, "field_names", None)
    if names is None:
        return None
    return {n.split("[", 1)[0] for n in names}


def compile_filter(
    engine: RuleEngine, ruleset: RuleSet, candidates: Sequence[PathClass] = CANDIDATES
) -> KernelFilter:
    """The candidate classes no enabled rule of `engine` can care about (see the module's
    docstring for what "care" means); `ruleset` holds the macros and lists."""
    macros = {name: m.expr for name, m in ruleset.macros.items()}
    lists = {name: tuple(lst.items) for name, lst in ruleset.lists.items()}
    plans = []
    for rule in engine.rules:
        expr = rule_expr(rule, lists)
        used = _fields_in(expr, macros)
        shown = _output_fields(rule)
        if shown is None:
            return KernelFilter((), disabled=f"rule '{rule.name}': its output cannot be read")
        for name in used | shown:
            if _reads_table(name):
                return KernelFilter((), disabled=f"rule '{rule.name}' reads {name}")
        plans.append((rule, expr, used, shown))
    open_events = {t: _open_events(t) for t in OPEN_EVENTS}
    fd_types = _fd_event_types()
    kept: dict[str, str] = {}
    safe: list[PathClass] = []
    for cls in candidates[:MAX_CLASSES]:
        why = _needed_by(cls, plans, macros, lists, open_events, fd_types)
        if why is None:
            safe.append(cls)
        else:
            kept[str(cls)] = why
    closes_sent = _close_needed_by(plans, macros, lists)
    return KernelFilter(tuple(safe), kept, closes=closes_sent is None, closes_sent=closes_sent)


def _close_needed_by(
    plans: Sequence[tuple[CompiledRule, Expr, set[str], set[str]]],
    macros: Mapping[str, Expr],
    lists: Mapping[str, Sequence[str]],
) -> str | None:
    """Why the close of an fd whose open was kept back must be sent, or None. Sent, it would
    find no fd in the table (its open never arrived) and change nothing there: so it may be
    kept back too when no rule can match a close whose fd is unknown."""
    for event_type in (e.name for e in EVENTS if e.handler == "close"):
        _, without = _fd_worlds(event_type, CANDIDATES[0])  # the class plays no part
        without["fd.num"] = UNKNOWN
        for rule, expr, _used, _shown in plans:
            if rule.event_types is not None and event_type not in rule.event_types:
                continue
            if World({**without, "evt.type": event_type}, macros, lists).expr(expr) is not False:
                return f"rule '{rule.name}' may match a {event_type} of an unknown fd"
    return None


def _needed_by(
    cls: PathClass,
    plans: Sequence[tuple[CompiledRule, Expr, set[str], set[str]]],
    macros: Mapping[str, Expr],
    lists: Mapping[str, Sequence[str]],
    open_events: Mapping[str, list[Event]],
    fd_types: Sequence[str],
) -> str | None:
    """Why `cls` must be sent (the first rule that may care), or None when it may be filtered."""
    paths = _path_values(cls)
    for rule, expr, used, shown in plans:
        types = rule.event_types
        for event_type in OPEN_EVENTS:
            if types is not None and event_type not in types:
                continue
            world = World({**paths, "evt.type": event_type}, macros, lists, open_events[event_type])
            if world.expr(expr) is not False:
                return f"rule '{rule.name}' may match an {event_type} of it"
        for event_type in fd_types:
            if types is not None and event_type not in types:
                continue
            dependent = {n for n in used if _fd_dependent(n, event_type)}
            out_dependent = {n for n in shown if _fd_dependent(n, event_type)}
            if not dependent and not out_dependent:
                continue
            why = _fd_use_differs(expr, event_type, cls, dependent, out_dependent, macros, lists)
            if why:
                return f"rule '{rule.name}': {why} on {event_type}"
    return None


def _fd_use_differs(
    expr: Expr,
    event_type: str,
    cls: PathClass,
    dependent: set[str],
    out_dependent: set[str],
    macros: Mapping[str, Expr],
    lists: Mapping[str, Sequence[str]],
) -> str | None:
    """Why a rule on `event_type` may judge or show an event differently when its fd (a file
    of `cls`) is missing from the table, or None."""
    with_file, without = _fd_worlds(event_type, cls)
    for name in dependent | out_dependent:  # evt.args and the like: unknown either way
        with_file.setdefault(name, UNKNOWN)
        without.setdefault(name, UNKNOWN)
    base = {"evt.type": event_type}
    unknown_num = {"fd.num": UNKNOWN}
    sent = World({**base, **with_file, **unknown_num}, macros, lists).expr(expr)
    filtered = World({**base, **without, **unknown_num}, macros, lists).expr(expr)
    if out_dependent and sent is not False:
        return f"its output shows {', '.join(sorted(out_dependent))}"
    if sent is False and filtered is False:
        return None  # the rule cannot fire on such an event either way
    # else every check on an fd-table field must come out the same with the file and without
    for node in checks_on(expr, dependent, macros):
        name = field_name(node.field)
        if with_file.get(name) == "same":
            continue
        a = World({**base, name: with_file[name]}, macros, lists).check(node)
        b = World({**base, name: without[name]}, macros, lists).check(node)
        if a is None or a != b:
            return f"a check on {name} may differ without the fd"
    return None


def checks_on(
    expr: Expr, names: set[str], macros: Mapping[str, Expr]
) -> list[BinaryCheck | UnaryCheck]:
    out: list[BinaryCheck | UnaryCheck] = []
    seen: set[str] = set()
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, And | Or):
            stack.extend(node.children)
        elif isinstance(node, Not):
            stack.append(node.child)
        elif isinstance(node, Identifier):
            if node.name not in seen and node.name in macros:
                seen.add(node.name)
                stack.append(macros[node.name])
        elif field_name(node.field) in names or (
            isinstance(node, BinaryCheck)
            and isinstance(node.value, FieldValue)
            and field_name(node.value.field) in names
        ):
            out.append(node)
    return out
