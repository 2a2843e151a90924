"""Files the sensor ships: bastion's default rules."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_RULES = DATA / "bastion_rules.yaml"


def rules_files(given: list[str] | None) -> list[str]:
    """The rules files to load: the ones given, else bastion's default rules.

    A directory stands for the regular files in it, in name order, as Falco loads a directory
    given to ``-r`` (or listed in ``rules_files``).
    """
    if not given:
        return [str(DEFAULT_RULES)]
    files: list[str] = []
    for name in given:
        path = Path(name)
        if path.is_dir():
            files.extend(str(p) for p in sorted(path.iterdir()) if p.is_file())
        else:
            files.append(name)
    return files
