"""`bastion rules validate|list|explain` and `bastion watch --replay`, through the CLI."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bastion.cli.front.main import main
from bastion.sensor.defaults import DEFAULT_RULES
from bastion_testing import shared_data

FALCO = shared_data.shared_path(*shared_data.FALCO)
CAPTURES = FALCO / "captures"


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


@shared_data.needs(*shared_data.FALCO_RULES)
def test_validate_default_and_falco_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "validate", str(DEFAULT_RULES)]) == 0
    assert "12 rules (12 enabled), 0 warnings" in capsys.readouterr().out
    files = [
        str(FALCO / "falco_rules.yaml"),
        *map(str, sorted((FALCO / "other-rulesets").glob("*.yaml"))),
    ]
    assert main(["rules", "validate", "-q", *files]) == 0
    assert "ok:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        (
            """\
            - rule: r
              desc: d
              condition: evt.type = open and proc.nmae = x
              output: o
              priority: ERROR
            """,
            ":3:34",
            "unknown field 'proc.nmae'",
        ),
        (
            """\
            - rule: r
              desc: d
              condition: evt.type = open and (proc.name = x
              output: o
              priority: ERROR
            """,
            ":3:",
            "expected",
        ),
        (
            """\
            - rule: r
              desc: d
              condition: evt.type = open and not_a_macro
              output: o
              priority: ERROR
            """,
            ":3:34",
            "undefined macro 'not_a_macro'",
        ),
        (
            """\
            - rule: r
              desc: d
              condition: evt.type = open and proc.name in (no_list) and fd.name in no_list
              output: o
              priority: ERROR
            """,
            ":3:",
            "undefined list 'no_list'",
        ),
        (
            """\
            - rule: r
              desc: d
              condition: evt.type = open
              output: o
              priority: URGENT
            """,
            ":5:13",
            "expected one of emergency",
        ),
        (
            """\
            - rule: r
              desc: d
              condition: evt.type = open
              output: "%proc.nmae"
              priority: ERROR
            """,
            "",
            "proc.nmae",
        ),
        ("- rule: [unclosed\n", ":2:1", "did not find expected"),
    ],
)
def test_validate_errors_name_file_line_col(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, where: str, words: str
) -> None:
    path = write(tmp_path, text)
    assert main(["rules", "validate", path]) != 0
    err = capsys.readouterr().err
    assert f"{path}{where}" in err
    assert words in err
    assert "Traceback" not in err


def test_list_shows_event_types(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "list"]) == 0
    out = capsys.readouterr().out
    assert "Critical      Kernel Module Loaded from Container  [finit_module,init_module]" in out


def test_explain_with_fields_and_with_replay(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        [
            "rules",
            "explain",
            "Read Sensitive File in Container",
            "--field",
            "evt.type=openat",
            "--field",
            "fd.name=/etc/shadow",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 1  # no match: evt.dir and the container are unreadable
    assert "✗ evt.dir = <   [evt.dir=<NA>]" in out


def test_explain_unknown_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "explain", "No Such Rule"]) != 0
    assert "no rule named 'No Such Rule'" in capsys.readouterr().err


@shared_data.needs(*shared_data.CAPTURES)
def test_explain_replayed_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path,
        """\
        - rule: curl connects
          desc: d
          condition: evt.type = connect and evt.dir = < and proc.name = curl and fd.sport = 80
          output: "%fd.name"
          priority: NOTICE
        """,
    )
    capture = str(CAPTURES / "curl_google.scap")
    assert (
        main(
            ["rules", "explain", "curl connects", "-r", path, "--replay", capture, "--num", "1273"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "verdict: MATCH" in out and "[fd.sport=80]" in out


@shared_data.needs(*shared_data.CAPTURES)
def test_watch_replay_prints_alerts_and_statistics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        """\
        - rule: connect
          desc: d
          condition: evt.type = connect and evt.dir = <
          output: "connect by %proc.name to %fd.name"
          priority: NOTICE
        """,
    )
    capture = str(CAPTURES / "curl_google.scap")
    assert main(["watch", "--replay", capture, "-r", path, "-o", "json"]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.out.splitlines() if line]
    assert len(lines) == 4
    import json

    alert = json.loads(lines[-1])
    assert alert["rule"] == "connect" and alert["priority"] == "Notice"
    assert alert["output_fields"]["proc.name"] == "curl"
    assert "events" in captured.err and "alerts" in captured.err


def test_explain_with_an_alerts_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Falco JSON alert (its output_fields) is an event `explain` can take as it is."""
    import json

    alert = {
        "rule": "x",
        "output_fields": {
            "evt.type": "openat",
            "evt.dir": "<",
            "evt.is_open_read": True,
            "fd.num": 3,
            "fd.name": "/etc/shadow",
            "container.id": "host",
            "proc.name": None,
        },
    }
    path = tmp_path / "alert.json"
    path.write_text(json.dumps(alert))
    rule = "Read Sensitive File in Container"
    assert main(["rules", "explain", rule, "--event", f"@{path}"]) == 1
    out = capsys.readouterr().out
    assert "✗ container.id != host   [container.id=host]" in out
    assert main(["rules", "explain", rule, "--event", "[1]"]) != 0
    assert main(["rules", "explain", rule, "--event", "{bad"]) != 0
    err = capsys.readouterr().err
    assert "JSON object" in err and "not JSON" in err and "Traceback" not in err
