"""Files the sensor ships: bastion's default rules."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_RULES = DATA / "bastion_rules.yaml"


def rules_files(given: list[str] | None) -> list[str]:
    """The rules files to load: the ones given, else bastion's default rules."""
    return list(given) if given else [str(DEFAULT_RULES)]
