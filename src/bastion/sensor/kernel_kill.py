"""The in-kernel kill: the kill_process matches the probe can decide, and carry out, by itself.

A rule whose action is ``kill_process`` is carried out from user space (`actions.Enforcer`):
the event crosses the ring buffer, the state and the rules, then a pidfd signal goes out, a few
milliseconds after the syscall, while the process runs on. For the matches the kernel can
decide exactly, the probe kills at the syscall's exit instead (bastion.bpf.c's
``bst_kill_exec``: ``bpf_send_signal(SIGKILL)``, delivered before the process returns to user
space) and marks the event; the alert then records ``killed-process (kernel)``.

What the kernel decides (`KillPlan`): a successful ``execve``/``execveat`` whose new process
name (the kernel's comm, Falco's ``proc.name``) is in a set, in the cgroup of an *armed*
container. Everything else, and every rule it cannot prove, stays on the user-space path, which
still runs for every event: the kernel only ever kills a subset of what user space would.

Why a kernel kill is always one user space would have made (`compile_kill`):

1. **The rule matches.** For each exec event type and each name of the plan, the rule's whole
   condition (macros expanded, lists resolved, exceptions included) is evaluated three-valued
   (`kernel_filter`'s evaluator) over what the kernel knows of such an event: ``evt.type``,
   ``evt.dir`` and the result fields (the real field getters on a successful exit),
   ``proc.name``, and ``container.id``, which is some container's (never ``host``). Every other
   field is unknown and "unknown" is never taken as true: the name is kept only when the
   condition is definitely true.
2. **The rule is the one that fires.** With ``rule_matching: first`` an earlier rule that
   matches takes the event: every earlier rule of the same event type must be definitely false
   in that world, or take ``kill_process`` itself.
3. **User space places the process in that container.** A cgroup is armed (`KillArming`) only
   once user space has seen the container's init as the container's own process, i.e. after
   the init's exec: the runtime's set-up (hooks run by the init before it, which the state
   counts as host software: `state/setup.py`) is over by then, and every later exec in the
   cgroup is the container's in the state too (a ``bastion-runc exec`` process's exec ends its
   set-up). Only bastion containers (whose init the identity record names) are armed, only
   their own cgroup (not nested ones), and a container that leaves the table is disarmed.
4. **The process is the event's.** The signal goes to the task making the syscall: no pid,
   so no recycled pid, is involved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bastion.sensor.events.model import Direction, Event
from bastion.sensor.events.schema import BY_NAME
from bastion.sensor.kernel_filter import Tri, World, checks_on, field_name, rule_expr
from bastion.sensor.probe.loader import COMM_LEN, KILL_EXEC_BITS, KillPlan
from bastion.sensor.rules.ast import BinaryCheck, Expr, FieldValue, UnaryCheck
from bastion.sensor.rules.engine import CompiledRule, RuleEngine
from bastion.sensor.rules.model import RuleSet
from bastion.sensor.state.model import Thread

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.sensor.state import SensorState

#: The events the probe can kill on (bastion_record.h's BST_KILL_* bits).
EXEC_EVENTS: tuple[str, ...] = tuple(KILL_EXEC_BITS)
#: Fields of the event alone, read by the real getters on a successful exec exit.
EVENT_FIELDS = frozenset(
    {"evt.type", "evt.dir", "evt.res", "evt.rawres", "evt.failed", "syscall.type", "evt.arg.res"}
)
#: The most names the probe's bst_kill_comms holds.
MAX_COMMS = 256

ActionsFor = Callable[[CompiledRule], Sequence[str]]


@dataclass(frozen=True)
class KernelKill:
    """What `compile_kill` derived: for each process name, the exec events after which the
    probe kills it; for each kill_process rule, the names it kills in the kernel, or why it
    stays in user space."""

    comms: dict[str, frozenset[str]] = field(default_factory=dict)
    by_rule: dict[str, tuple[str, ...]] = field(default_factory=dict)
    left: dict[str, str] = field(default_factory=dict)

    def plan(self) -> KillPlan | None:
        """What the probe is given (None: no kill in the kernel)."""
        if not self.comms:
            return None
        return KillPlan(tuple(sorted(self.comms.items())))

    def describe(self) -> str:
        """One line for the operator."""
        parts = [f"'{rule}' ({', '.join(names)})" for rule, names in self.by_rule.items()]
        parts += [f"'{rule}' in user space: {why}" for rule, why in self.left.items()]
        return "in-kernel kill: " + ("; ".join(parts) if parts else "no kill_process rule")


class _ExecWorld(World):
    """What the kernel knows of a successful exec exit of a process named `name`: checks on the
    event's own fields and on ``proc.name`` run as the engine runs them (the real compiled
    check on a synthetic event); ``container.id`` is some container's (not ``host``); every
    other field is unknown."""

    def __init__(
        self,
        event_type: str,
        name: str,
        macros: Mapping[str, Expr],
        lists: Mapping[str, Sequence[str]],
    ) -> None:
        spec = BY_NAME[event_type]
        evt = Event(
            0, 0, 0, 1, 1, event_type, Direction.EXIT, spec.category, {"res": 0}, spec.specs, 0
        )
        evt.thread = Thread(tid=1, pid=1, comm=name)
        super().__init__({}, macros, lists, (evt,))

    def check(self, node: BinaryCheck | UnaryCheck) -> Tri:
        name = field_name(node.field)
        if isinstance(node, BinaryCheck) and isinstance(node.value, FieldValue):
            return None  # a field on the right: the synthetic event knows too little
        if name in EVENT_FIELDS or name == "proc.name":
            return self.by_getters(node)
        if name != "container.id" or node.field.transformers:
            # unknown, the flag fields included: an exec's own flags (EXE_WRITABLE...) are
            # the kernel's to know, not the synthetic event's
            return None
        if isinstance(node, UnaryCheck):
            return True  # exists
        texts = self.texts(node)
        if texts is None or node.op not in ("=", "==", "!=", "in"):
            return None
        # the id is a container's: it equals neither "host" nor "" (what no container is)
        equal: Tri = False if all(t in ("host", "") for t in texts) else None
        if node.op == "!=":
            return None if equal is None else not equal
        return equal


def _candidate_names(expr: Expr, macros: Mapping[str, Expr], world: World) -> list[str]:
    """The process names the rule compares ``proc.name`` with (=, in, lists): the only names
    that can make a condition definitely true."""
    names: list[str] = []
    for node in checks_on(expr, {"proc.name"}, macros):
        if (
            isinstance(node, BinaryCheck)
            and node.op in ("=", "==", "in")
            and not (node.field.transformers)
        ):
            names.extend(world.texts(node) or ())
    fits = (n for n in names if n and len(n.encode()) < COMM_LEN and "\0" not in n)
    return list(dict.fromkeys(fits))


def compile_kill(engine: RuleEngine, ruleset: RuleSet, actions_for: ActionsFor) -> KernelKill:
    """The kill plan of `engine`'s rules whose actions (`actions_for`: the rule's own and the
    command line's) include kill_process (see the module's docstring for the proof)."""
    macros = {name: m.expr for name, m in ruleset.macros.items()}
    lists = {name: tuple(lst.items) for name, lst in ruleset.lists.items()}
    exprs = {rule.name: rule_expr(rule, lists) for rule in engine.rules}
    kills = {rule.name for rule in engine.rules if "kill_process" in actions_for(rule)}
    comms: dict[str, set[str]] = {}
    by_rule: dict[str, tuple[str, ...]] = {}
    left: dict[str, str] = {}
    for rule in engine.rules:
        if rule.name not in kills:
            continue
        types = [t for t in EXEC_EVENTS if rule.event_types is None or t in rule.event_types]
        if not types:
            left[rule.name] = "not an exec rule"
            continue
        expr = exprs[rule.name]
        names = _candidate_names(expr, macros, _ExecWorld(types[0], "", macros, lists))
        if not names:
            left[rule.name] = "it names no process (proc.name = or in)"
            continue
        decided: list[str] = []
        why = "its condition reads more than the kernel knows"
        for event_type in types:
            earlier = (
                [r for r in engine.candidates(event_type) if r.order < rule.order]
                if engine.rule_matching == "first"
                else []
            )
            for name in names:
                world = _ExecWorld(event_type, name, macros, lists)
                if world.expr(expr) is not True:
                    continue
                blocker = next(
                    (
                        r
                        for r in earlier
                        if r.name not in kills
                        and _ExecWorld(event_type, name, macros, lists).expr(exprs[r.name])
                        is not False
                    ),
                    None,
                )
                if blocker is not None:
                    why = f"rule '{blocker.name}' comes first and may match"
                    continue
                if name not in comms and len(comms) >= MAX_COMMS:
                    why = f"the probe holds at most {MAX_COMMS} names"
                    continue
                comms.setdefault(name, set()).add(event_type)
                decided.append(name)
        if decided:
            by_rule[rule.name] = tuple(dict.fromkeys(decided))
        else:
            left[rule.name] = why
    return KernelKill({n: frozenset(e) for n, e in comms.items()}, by_rule, left)


class KillArming:
    """Arms the probe's kill in a bastion container's cgroup once user space has seen the
    container's init as the container's own process (its exec done: see the module's
    docstring), and disarms it when the container leaves the table. `sync` is called after
    each batch the pipeline took; it looks only at containers not yet armed."""

    def __init__(
        self,
        state: SensorState,
        arm: Callable[[list[int]], None],
        disarm: Callable[[list[int]], None],
    ) -> None:
        self._state = state
        self._arm = arm
        self._disarm = disarm
        self.armed: dict[str, int] = {}  # container id -> its armed cgroup id
        self._never: set[str] = set()  # containers that are never armed (not bastion's)

    def sync(self) -> None:
        present = set()
        threads = self._state.threads
        for container in self._state.containers:
            cid = container.id
            present.add(cid)
            if cid in self.armed or cid in self._never:
                continue
            if container.kind != "bastion":
                self._never.add(cid)
                continue
            init = threads.get(container.init_pid) if container.init_pid else None
            if container.cgroup_id and init is not None and init.container_id == cid:
                self._arm([container.cgroup_id])
                self.armed[cid] = container.cgroup_id
        gone = [cid for cid in self.armed if cid not in present]
        if gone:
            self._disarm([self.armed.pop(cid) for cid in gone])
        self._never &= present
