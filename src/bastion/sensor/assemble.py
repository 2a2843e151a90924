"""Assembling the sensor from its parts: rules files -> engine over the real fields and state.

The CLI verbs (`watch`, `rules`, `events`) and the engine build the same objects the same way
through these functions, so a rule that validates is a rule that runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from bastion.identity import DEFAULT_STATE_ROOT
from bastion.sensor.defaults import rules_files
from bastion.sensor.rules import RuleSet, load_rules_files
from bastion.sensor.rules.engine import RuleEngine
from bastion.sensor.rules.selection import Selector

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bastion.sensor.fields.registry import FieldRegistry
    from bastion.sensor.open_verdicts import OpenVerdicts
    from bastion.sensor.state import SensorState


@dataclass(frozen=True, slots=True)
class Rules:
    """A loaded ruleset, its compiled engine and the field table it was compiled against."""

    files: tuple[str, ...]
    ruleset: RuleSet
    engine: RuleEngine
    fields: FieldRegistry
    # the verdicts kept per opened file in front of the engine's open matchers (None: off)
    verdicts: OpenVerdicts | None = None


def new_state(root: str = DEFAULT_STATE_ROOT, *, seed: bool = False) -> SensorState:
    """State tables that know the containers under the runtime root `root`; seeded from /proc
    when `seed` (live), left for a capture to seed otherwise."""
    from bastion.sensor.state import SensorState

    state = SensorState(runtime_roots=(root,))
    if seed:
        state.seed_from_proc()
    return state


def load_rules(
    files: list[str] | None,
    state: SensorState,
    *,
    rule_matching: str = "first",
    min_priority: str = "debug",
    disabled_rules: tuple[str, ...] = (),
    disabled_tags: tuple[str, ...] = (),
    enabled_rules: tuple[str, ...] = (),
    selection: tuple[Selector, ...] = (),
    name_match: str = "substring",
    container_info: str | None = None,
) -> Rules:
    """Load `files` (bastion's default rules when None/empty) and compile them.

    `selection` and `name_match` enable and disable rules as Falco's ``-D``/``-T``/``-t``
    and ``rules:`` entries do (`bastion.sensor.rules.selection`); `container_info` is what
    ``%container.info`` expands to (Falco's ``-p``; None: Falco's default).

    Raises `RulesFileError` (file:line:col of a YAML or condition error) or `EngineError`
    (file:line:col of an unknown field, undefined macro or list, bad output).
    """
    from bastion.sensor.fields.evt import event_type_names
    from bastion.sensor.fields.format import compile_output, expand_container_info
    from bastion.sensor.fields.registry import FieldRegistry

    paths = rules_files(files)
    ruleset = load_rules_files(paths)
    fields = FieldRegistry(state)
    engine = RuleEngine.build(
        ruleset,
        fields,
        output_compiler=lambda text: compile_output(
            expand_container_info(text, container_info), fields
        ),
        rule_matching=rule_matching,
        min_priority=min_priority,
        disabled_rules=disabled_rules,
        disabled_tags=disabled_tags,
        enabled_rules=enabled_rules,
        event_names=event_type_names(),
        selection=selection,
        name_match=name_match,
    )
    from bastion.sensor import open_verdicts

    verdicts = None
    if open_verdicts.enabled():  # a flood's repeated opens skip rules none can match
        verdicts = open_verdicts.OpenVerdicts(engine)
        engine.wrap_matchers(verdicts.wrap)
    return Rules(tuple(paths), ruleset, engine, fields, verdicts)
