"""Enabling and disabling rules by name and tag, in the order given, with Falco's precedence.

Falco applies its selections in order over each rule's own ``enabled`` (``rules:`` entries of
falco.yaml, then the command line's ``-D``/``-T``/``-t``), so a later selection wins over an
earlier one: ``--enable-tag network -D 'Outbound'`` keeps the network rules except the outbound
ones, ``-D 'Outbound' --enable-tag network`` keeps them all. ``-t TAG`` is "only rules with TAG":
the first ``-t`` disables every rule, then each enables those carrying its tag.

A rule name pattern matches by substring by default (``-D shell`` disables every rule whose
name contains "shell"), as Falco 0.34's ``-D`` did; `NAME_MATCH` ``exact`` compares whole
names. Either way ``*`` in a pattern is a wildcard (Falco 0.35+'s form), matched against the
whole name. Tags always match whole.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

NAME_MATCH = ("substring", "exact")


@dataclass(frozen=True, slots=True)
class Selector:
    """One selection: `enable` or disable the rules whose `kind` (``rule`` or ``tag``)
    matches `pattern`; `only` (``-t``) first disables every rule."""

    enable: bool
    kind: str
    pattern: str
    only: bool = False


def _name_matches(pattern: str, name: str, match: str) -> bool:
    if "*" in pattern:
        return fnmatch.fnmatchcase(name, pattern)
    return pattern == name if match == "exact" else pattern in name


def _hits(selector: Selector, name: str, tags: Iterable[str], match: str) -> bool:
    if selector.kind == "tag":
        return any(fnmatch.fnmatchcase(tag, selector.pattern) for tag in tags)
    return _name_matches(selector.pattern, name, match)


def is_enabled(
    name: str,
    tags: Sequence[str],
    default: bool,
    selectors: Sequence[Selector],
    match: str = "substring",
) -> bool:
    """Whether a rule with `name`, `tags` and its own `enabled` (`default`) ends enabled."""
    enabled = default
    only_seen = False
    for selector in selectors:
        if selector.only and not only_seen:
            enabled, only_seen = False, True
        if _hits(selector, name, tags, match):
            enabled = selector.enable
    return enabled
