"""Verdicts kept per opened file: the rules skipped for an open no loaded rule can match.

A flood opens the same few files again and again (``/dev/null``, a library, one file under
/tmp), and each of those opens costs the rules as much as an attack would (docs/watch.md
"Where the time goes": the rules are most of a live event's cost). Whether a rule can match
an open depends on the process, the container, the user... but for most rules it is decided
by the file and the flags alone: "Read sensitive file untrusted" needs ``fd.name`` in a list,
which ``/dev/null`` is not, whoever opens it.

So, for the exit of an open-family call (`kernel_filter.OPEN_EVENTS`) that holds a known fd,
this module keeps one verdict per *key*: the inputs every path and flag field of such an event
is computed from (the fd's name and type, the path as passed, the flags, the mode, whether the
call succeeded). A key met `SIGHTINGS` times is judged once by the three-valued evaluator of
`kernel_filter.World`, with those fields' real values (read by the real getters from the event
itself) and every other field unknown; "unknown" is never taken as false. When every
candidate rule of the event type comes out definitely false, later opens with the same key
skip the matcher: their rules would all be false whatever the rest of the event holds, so the
answer is the same (no rule), exactly. Any other outcome keeps the matcher for that key.

What bounds the work an attacker can make it do: a key is judged only after it repeats, at most
`MAX_JUDGED_PER_SECOND` judgements a second, and at most `MAX_KEYS` keys per event type are
kept (all forgotten when full). ``BASTION_SENSOR_OPEN_VERDICTS=0`` turns it off. The state is
not concerned: every event still updates it, only the rules' evaluation is skipped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from bastion.sensor.events.model import Direction, Event
from bastion.sensor.fields.paths import PATH_PARAMS
from bastion.sensor.kernel_filter import OPEN_EVENTS, Abstract, World
from bastion.sensor.rules.ast import And, Expr, Not, Or
from bastion.sensor.rules.engine import CompiledRule, RuleEngine
from bastion.sensor.state.model import Fd

Matcher = Callable[[object], "Sequence[CompiledRule] | None"]

#: ``BASTION_SENSOR_OPEN_VERDICTS=0`` in the sensor's environment: every open meets its rules.
VERDICTS_ENV = "BASTION_SENSOR_OPEN_VERDICTS"
#: A key is judged on its this-many-th sighting: a path seen once (a flood of distinct
#: names) costs a dict entry, never a judgement.
SIGHTINGS = 2
#: Keys kept per event type (verdicts and sightings): beyond it, all are forgotten.
MAX_KEYS = 4096
#: Judgements a second, at most (each walks every candidate rule's condition: ~0.1-1 ms).
MAX_JUDGED_PER_SECOND = 64

#: The fields whose values the key decides, on the exit of an open that holds a known fd (by
#: their getters, fields/fd.py and fields/evt.py): the fd's name and type decide fd.name,
#: fd.type, fd.typechar, fd.directory and fd.filename; the path parameter (and fd.name when it
#: is empty) fd.nameraw; the flags evt.is_open_read and evt.is_open_write, with the mode
#: evt.is_open_exec, with the result evt.is_open_create.
KNOWN_FIELDS = (
    "fd.name",
    "fd.type",
    "fd.typechar",
    "fd.directory",
    "fd.filename",
    "fd.nameraw",
    "evt.is_open_read",
    "evt.is_open_write",
    "evt.is_open_exec",
    "evt.is_open_create",
)


def enabled() -> bool:
    return os.environ.get(VERDICTS_ENV, "1") != "0"


def rule_condition(rule: CompiledRule) -> Expr | None:
    """What the engine evaluates for `rule`: its condition and not any of its exceptions
    (as `codegen.build` writes it), None when the engine keeps no expression for it."""
    if rule.expr is None:
        return None
    if not rule.exceptions:
        return rule.expr
    excluded = rule.exceptions[0] if len(rule.exceptions) == 1 else Or(tuple(rule.exceptions))
    return And((rule.expr, Not(excluded)))


class OpenVerdicts:
    """The wrapper `RuleEngine.wrap_matchers` takes: a matcher of an open-family type gets
    the verdicts of its keys in front of it; any other matcher is left as it is."""

    def __init__(self, engine: RuleEngine, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.clock = clock
        self.judged = 0  # keys judged
        self._skipped = 0  # events whose matcher the Python wrapper skipped
        self._guards: list[_Guard] = []  # the compiled fronts made (their own counts)
        self._window = 0.0
        self._in_window = 0

    @property
    def skipped(self) -> int:
        """Events whose matcher was skipped (by the Python wrapper or a compiled front)."""
        return self._skipped + self.skipped_compiled

    @property
    def skipped_compiled(self) -> int:
        """Of those, the ones the compiled fronts answered without a Python frame."""
        return sum(g.skipped for g in self._guards)

    def wrap(self, kind: str, direction: str | None, matcher: Matcher) -> Matcher:
        if kind not in OPEN_EVENTS or direction == ">":
            return matcher
        where = PATH_PARAMS.get(kind)
        param = None if where is None else where[1]
        conditions = [rule_condition(r) for r in self.engine.candidates(kind)]
        if param is None or any(c is None for c in conditions):
            return matcher
        exprs: list[Expr] = [c for c in conditions if c is not None]
        verdicts: dict[tuple[object, ...], bool] = {}  # key -> its opens skip the rules
        sightings: dict[tuple[object, ...], int] = {}
        judge = self._judge

        def match(evt: object) -> Sequence[CompiledRule] | None:
            fd = evt.fd  # type: ignore[attr-defined]
            if fd is None or evt.thread is None or evt.dir != "<":  # type: ignore[attr-defined]
                return matcher(evt)
            params = evt.params  # type: ignore[attr-defined]
            res = evt.res  # type: ignore[attr-defined]
            key = (
                fd.name,
                fd.type,
                params.get(param),
                params.get("flags"),
                params.get("mode"),
                res is not None and res >= 0,
            )
            skip = verdicts.get(key)
            if skip is None:
                seen = sightings.get(key, 0) + 1
                if seen < SIGHTINGS or not self._may_judge():
                    if len(sightings) >= MAX_KEYS:
                        sightings.clear()
                    sightings[key] = seen
                    return matcher(evt)
                if len(verdicts) >= MAX_KEYS:
                    verdicts.clear()
                    sightings.clear()
                sightings.pop(key, None)
                skip = verdicts[key] = judge(kind, evt, exprs)
            if skip:
                self._skipped += 1
                return None
            return matcher(evt)

        guard = _compiled_front(match, verdicts, param)
        if guard is None:
            return match
        self._guards.append(guard)
        return guard

    def _may_judge(self) -> bool:
        now = self.clock()
        if now - self._window >= 1.0:
            self._window, self._in_window = now, 0
        if self._in_window >= MAX_JUDGED_PER_SECOND:
            return False
        self._in_window += 1
        return True

    def _judge(self, kind: str, evt: object, exprs: Sequence[Expr]) -> bool:
        """Whether every one of `exprs` is definitely false on any open whose key is `evt`'s."""
        self.judged += 1
        fields = self.engine.fields
        if fields is None:
            return False
        values: dict[str, Abstract] = {"evt.type": kind}
        for name in KNOWN_FIELDS:
            getter = fields.resolve(name, None)
            if getter is not None:
                values[name] = getter(evt)
        world = World(values, self.engine.macros, self.engine.lists)
        return all(world.expr(expr) is False for expr in exprs)


class _Guard(Protocol):
    """accel.c's OpenGuard: called as the wrapper is; `skipped` counts what it answered."""

    skipped: int

    def __call__(self, event: object, /) -> Sequence[CompiledRule] | None: ...


def _compiled_front(
    wrapper: Matcher, verdicts: dict[tuple[object, ...], bool], param: str
) -> _Guard | None:
    """The wrapper's lookup in C (probe/accel.c, `OpenGuard`): the same key, the same table,
    `wrapper` for everything else; None where the extension is off or not built."""
    from bastion.sensor.probe import accel

    module = accel.load()
    make = getattr(module, "OpenGuard", None) if module is not None else None
    if make is None:
        return None
    guard: _Guard = make(wrapper, verdicts, param, Event, Fd, Direction.EXIT)
    return guard
