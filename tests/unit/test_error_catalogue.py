"""One catalogue of error reference codes: every code src/ raises is in it, every entry is raised,
docs/errors.md is generated from it, and both CLIs print the code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bastion.error_catalogue import AREAS, CATALOGUE, lookup, markdown
from bastion.errors import BastionError
from bastion_testing.references import references

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
BIN = os.path.dirname(sys.executable)


def test_every_code_raised_is_catalogued_and_every_entry_is_raised() -> None:
    raised = references(SRC)
    assert len(raised) > 70
    unlisted = {code: sorted(places) for code, places in raised.items() if code not in CATALOGUE}
    assert unlisted == {}, "add these codes to src/bastion/error_catalogue.py"
    assert sorted(set(CATALOGUE) - set(raised)) == [], "catalogued codes nothing raises"


def test_the_reader_of_codes_can_fail(tmp_path: Path) -> None:
    package = tmp_path / "bastion"
    package.mkdir()
    (package / "consts.py").write_text('GONE = "from-a-constant"\n')
    (package / "sample.py").write_text(
        "from bastion.consts import GONE\n"
        "class E(Exception):\n"
        '    reference = "class-attribute"\n'
        'def fail(why, reference="a-default"):\n'
        "    raise E(why, reference=reference)\n"
        'fail("x", "positional")\n'
        'E("y", reference=GONE if True else "other-branch")\n'
        "E('z', reference=computed.reference)\n"
    )
    assert set(references(tmp_path)) == {
        "class-attribute",
        "a-default",
        "positional",
        "from-a-constant",
        "other-branch",
    }


def test_every_entry_is_complete() -> None:
    areas = {area for area, _ in AREAS}
    for code, (area, meaning, fix) in CATALOGUE.items():
        assert code == code.lower() and " " not in code, code
        assert area in areas, code
        assert meaning.endswith(".") and fix.endswith("."), code
    assert lookup("spec-not-found") == CATALOGUE["spec-not-found"]
    assert lookup("no-such-code") is None


def test_docs_errors_md_is_the_catalogue() -> None:
    on_disk = (REPO / "docs" / "errors.md").read_text()
    assert on_disk == markdown(), (
        "docs/errors.md is stale: run `python -m bastion.error_catalogue > docs/errors.md`"
    )
    for code in CATALOGUE:
        assert f"| `{code}` |" in on_disk


def test_the_catalogue_stays_off_bastion_runc_s_path() -> None:
    probe = (
        f"import sys; sys.path.insert(0, {str(SRC)!r})\n"
        "from bastion.cli.runc.main import main\n"
        "main(['--root', '/nonexistent-bst-test', 'state', 'bst-test-x'])\n"
        "print('bastion.error_catalogue' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", probe], capture_output=True, text=True, check=True
    )
    assert out.stdout.splitlines()[-1] == "False"


def test_bastion_runc_prints_the_code_and_logs_it_as_a_field(tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    missing = tmp_path / "no-bundle"
    argv = [f"{BIN}/bastion-runc", "--root", str(tmp_path / "root"), "--log", str(log)]
    argv += ["--log-format", "json", "create", "--bundle", str(missing), "bst-test-x"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert result.stderr.startswith("error[spec-not-found]: ")
    (line,) = log.read_text().splitlines()
    entry = json.loads(line)
    # containerd and Podman read level and msg: msg is still the rendered error line.
    assert entry["msg"] == result.stderr.strip()
    assert (entry["level"], entry["reference"]) == ("error", "spec-not-found")
    assert sorted(entry) == ["level", "msg", "reference", "time"]
    assert entry["reference"] in CATALOGUE


def test_bastion_prints_the_code(tmp_path: Path) -> None:
    result = subprocess.run(
        [f"{BIN}/bastion", "alerts", "--db", str(tmp_path / "none.db")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3, result
    assert result.stderr.startswith("bastion: error[alert-store-missing]: ")


@pytest.mark.parametrize("code", ["spec-not-found", "usage"])
def test_bastion_errors_explains_a_code(code: str) -> None:
    result = subprocess.run(
        [f"{BIN}/bastion", "errors", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    _, meaning, fix = CATALOGUE[code]
    assert result.stdout == f"{code} ({CATALOGUE[code][0]})\n  {meaning}\n  fix: {fix}\n"


def test_an_unknown_code_is_a_usage_error() -> None:
    result = subprocess.run(
        [f"{BIN}/bastion", "errors", "bst-no-such-code"], capture_output=True, text=True
    )
    assert result.returncode == BastionError.exit_code
    assert "error[usage]" in result.stderr
