"""The repository's entry points: README's commands, CI's script, the console scripts."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import tomllib

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = ("scripts/setup", "scripts/demo", "scripts/check", "scripts/test", ".ci/run")


def _read(rel: str) -> str:
    with open(os.path.join(REPO, rel)) as f:
        return f.read()


def _project_scripts() -> dict[str, str]:
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        scripts: dict[str, str] = tomllib.load(f)["project"]["scripts"]
    return scripts


def test_readme_setup_section_has_exactly_the_two_commands() -> None:
    readme = _read("README.md")
    section = readme.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert blocks == ["scripts/setup && scripts/demo\nscripts/test\n"]


@pytest.mark.parametrize("rel", SCRIPTS)
def test_script_exists_is_executable_and_parses(rel: str) -> None:
    path = os.path.join(REPO, rel)
    assert os.path.isfile(path)
    assert os.access(path, os.X_OK), f"{rel} is not executable"
    assert _read(rel).startswith("#!/usr/bin/env bash\n")
    subprocess.run(["bash", "-n", path], check=True)


def test_ci_runs_the_readme_test_command() -> None:
    commands = [
        line.strip()
        for line in _read(".ci/run").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert commands[-1] == "exec scripts/test"


@pytest.mark.parametrize("name", sorted(_project_scripts()))
def test_console_script_entry_point_exists(name: str) -> None:
    module_name, _, function = _project_scripts()[name].partition(":")
    module = importlib.import_module(module_name)
    assert callable(getattr(module, function))


def test_lean_launcher_calls_the_bastion_runc_entry_point() -> None:
    module_name, _, function = _project_scripts()["bastion-runc"].partition(":")
    assert f"from {module_name} import {function}\n" in _read("scripts/setup")


def test_gitignore_covers_environment_and_caches() -> None:
    ignored = _read(".gitignore").split()
    for entry in (".venv/", ".cache/", "__pycache__/", "*.egg-info/", ".mypy_cache/"):
        assert entry in ignored
