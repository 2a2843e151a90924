"""The action policy: a rule's `action:` key, `--action ACTION=PRIORITY|rule:NAME` and `--kill`
resolve to the actions a match takes; bad flags are usage errors."""

from __future__ import annotations

import dataclasses

import pytest

from bastion.sensor.actions import ActionConfigError, ActionPolicy, parse_actions
from bastion.sensor.rules.engine import CompiledRule


def rule(name: str, rank: int, actions: tuple[str, ...] = ()) -> CompiledRule:
    class Definition:
        pass

    definition = Definition()
    definition.actions = actions  # type: ignore[attr-defined]
    return CompiledRule(
        name=name,
        priority="Warning",
        rank=rank,
        condition=lambda e: True,
        output=None,
        event_types=None,
        tags=(),
        source="syscall",
        definition=definition,  # type: ignore[arg-type]
        order=0,
    )


def test_priority_flags_cover_that_priority_and_worse() -> None:
    policy = parse_actions(["pause_container=error"], kill="warning")
    assert policy.actions_for(rule("r", 4)) == ("kill_process",)  # Warning
    assert policy.actions_for(rule("r", 3)) == ("pause_container", "kill_process")  # Error
    assert policy.actions_for(rule("r", 5)) == ()  # Notice


def test_rule_actions_come_first_and_repeat_once() -> None:
    policy = parse_actions(["kill_container=rule:Shell", "kill_process=debug"])
    assert policy.actions_for(rule("Shell", 6, ("alert", "kill_process"))) == (
        "kill_process",
        "kill_container",
    )
    assert ActionPolicy().actions_for(rule("Shell", 0, ("alert",))) == ()
    assert ActionPolicy().empty and not policy.empty
    assert dataclasses.replace(policy, by_rule={}).actions_for(rule("Shell", 7)) == (
        "kill_process",
    )


@pytest.mark.parametrize(
    "flag", ["kill_process", "kill=warning", "kill_process=", "kill_process=loud", "x=rule:r"]
)
def test_bad_flags_are_usage_errors(flag: str) -> None:
    with pytest.raises(ActionConfigError) as info:
        parse_actions([flag])
    assert info.value.reference == "action-config" and info.value.where == "--action"
