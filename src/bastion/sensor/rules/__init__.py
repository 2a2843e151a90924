"""Falco rules: condition parser and AST, rules-file loader and collector, compiler.

The stages form a pipeline (docs/conventions.md §10): `load_rules_files` reads rules files (loader →
collector) into a `RuleSet`, whose conditions `parse_condition` turned into an AST of frozen
dataclasses (`bastion.sensor.rules.ast`); `compile_condition` expands macros and lists and compiles
an AST once into closures over a `FieldTable`; `event_types` infers what a rule can match.
"""

from bastion.sensor.rules.collector import load_rules_files, referenced_names
from bastion.sensor.rules.compiler import (
    CompileError,
    FieldTable,
    Getter,
    compile_condition,
    event_types,
)
from bastion.sensor.rules.errors import ConditionSyntaxError
from bastion.sensor.rules.loader import RulesFileError
from bastion.sensor.rules.model import RuleSet
from bastion.sensor.rules.ops import MISSING
from bastion.sensor.rules.parser import parse_condition

__all__ = [
    "MISSING",
    "CompileError",
    "ConditionSyntaxError",
    "FieldTable",
    "Getter",
    "RuleSet",
    "RulesFileError",
    "compile_condition",
    "event_types",
    "load_rules_files",
    "parse_condition",
    "referenced_names",
]
