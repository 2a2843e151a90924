"""`bastion fields`: the listing, its filters and JSON form."""

from __future__ import annotations

import json

import pytest

from bastion.cli.front.main import main
from bastion.sensor.fields import ALL_FIELDS


def test_lists_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fields"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(ALL_FIELDS)
    assert any(line.startswith("proc.aname[X]? ") for line in lines)
    assert any(line.startswith("evt.arg.X ") for line in lines)


def test_class_and_name_filters_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fields", "--class", "fd", "-o", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and {r["name"].split(".")[0] for r in rows} == {"fd"}
    by_name = {r["name"]: r for r in rows}
    assert by_name["fd.sip"]["type"] == "ipaddr"
    assert by_name["fd.name"]["doc"]
    assert main(["fields", "cmdline"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ["proc.cmdline", "proc.pcmdline", "proc.acmdline[X]?"]


def test_no_match_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fields", "--class", "nosuch"]) == 1
    assert "no field" in capsys.readouterr().err
