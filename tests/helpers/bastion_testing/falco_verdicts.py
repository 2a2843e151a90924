"""Rules files that put true verdicts on Falco's public captures: Falco's stable rules,
bastion's, and a rule of its own for each of their macros and each rule's bare condition
(without its exceptions). The captures raise few alerts of the stable rules; these raise
thousands, so a comparison of two rule paths compares true answers too."""

from __future__ import annotations

import json
from pathlib import Path

from bastion.sensor.defaults import rules_files
from bastion.sensor.rules import load_rules_files
from bastion_testing import shared_data


def stable_rules() -> list[str]:
    """Falco's stable rules (from the shared reference data) and bastion's defaults."""
    return [str(shared_data.shared_path(*shared_data.FALCO_RULES)), *rules_files(None)]


def with_every_macro(tmp_path: Path) -> list[str]:
    """`stable_rules()` and, written under `tmp_path`, a rule per macro and bare condition."""
    files = stable_rules()
    ruleset = load_rules_files(files)
    conditions = {f"macro {name}": name for name in ruleset.macros}
    conditions.update({f"bare {r.name}": r.condition for r in ruleset.rules.values()})
    extra = tmp_path / "verdicts.yaml"
    extra.write_text(
        "".join(
            f"- rule: {json.dumps(name)}\n  desc: d\n  condition: {json.dumps(cond)}\n"
            "  output: 'hit %proc.name %fd.name %evt.type %container.id'\n"
            "  priority: WARNING\n  warn_evttypes: false\n"
            for name, cond in conditions.items()
        )
    )
    return [*files, str(extra)]
