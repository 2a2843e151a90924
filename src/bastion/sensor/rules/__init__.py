"""Falco rules: condition lexer and parser, AST, and (later) loader, compiler and ruleset.

The stages form a pipeline (CONVENTIONS.md §10): `parse_condition` turns a condition string into
an AST of frozen dataclasses (`bastion.sensor.rules.ast`); later stages walk it with visitors.
"""

from bastion.sensor.rules.collector import load_rules_files, referenced_names
from bastion.sensor.rules.errors import ConditionSyntaxError
from bastion.sensor.rules.loader import RulesFileError
from bastion.sensor.rules.model import RuleSet
from bastion.sensor.rules.parser import parse_condition

__all__ = [
    "ConditionSyntaxError",
    "RuleSet",
    "RulesFileError",
    "load_rules_files",
    "parse_condition",
    "referenced_names",
]
