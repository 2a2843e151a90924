"""What Falco accepts, bastion accepts (issue [falco-parity] item 2): rules files, flags and the
configuration file a Falco user brings, each checked by the alerts it gives on a shared capture.

cat_write.scap: `cat /dev/null` opens 4 files (/etc/ld.so.cache, libc.so.6, locale-archive,
/dev/null); the rule "cat opens" below alerts once per open.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from bastion.cli.front.main import main
from bastion.sensor.assemble import load_rules
from bastion.sensor.outputs.alert import Alert
from bastion.sensor.outputs.factory import build_outputs
from bastion.sensor.outputs.options import OutputOptions, hostname_override
from bastion.sensor.pipeline import Pipeline
from bastion.sensor.replay import open_replay
from bastion.sensor.rules.selection import Selector
from bastion.sensor.state import SensorState
from bastion_testing import shared_data

pytestmark = shared_data.needs("falco", "captures", "cat_write.scap")
CAT_WRITE = shared_data.shared_path("falco", "captures", "cat_write.scap")

CAT_OPENS = """
- rule: cat opens
  desc: cat opens a file
  condition: evt.type in (open, openat) and evt.dir=< and {condition}
  output: "cat opened %fd.name {output}"
  priority: WARNING
  tags: [files, cat]
"""


def new_state() -> SensorState:
    state = SensorState(runtime_roots=(), proc_root="/nonexistent", host_root="/nonexistent")
    state.live = False
    return state


def write(path: Path, text: str) -> str:
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return str(path)


def run(files: list[str], **options: object) -> list[Alert]:
    state = new_state()
    rules = load_rules(files, state, rule_matching="all", **options)  # type: ignore[arg-type]
    pipeline = Pipeline(engine=rules.engine, state=state, hostname="test")
    return pipeline.feed(open_replay(str(CAT_WRITE), state))


def counts(files: list[str], **options: object) -> Counter[str]:
    return Counter(alert.rule for alert in run(files, **options))


def rule(condition: str = "proc.name=cat", output: str = "", extra: str = "") -> str:
    return CAT_OPENS.format(condition=condition, output=output) + textwrap.indent(
        textwrap.dedent(extra), "  "
    )


def test_container_info_expands_to_falcos_default_or_the_given_format(tmp_path: Path) -> None:
    path = write(tmp_path / "r.yaml", rule(output="%container.info"))
    (first, *_) = run([path])
    assert first.output == "cat opened /etc/ld.so.cache container_id=host container_name=host"
    (first, *_) = run([path], container_info="c")
    assert "container_image=<NA> container_image_tag=<NA> container_name=host" in first.output
    (first, *_) = run([path], container_info="id=%container.id")
    assert first.output == "cat opened /etc/ld.so.cache id=host"
    plain = write(tmp_path / "plain.yaml", rule())
    (first, *_) = run([plain], container_info="id=%container.id")
    assert first.output == "cat opened /etc/ld.so.cache id=host"  # -p appends, as Falco's


def test_a_file_of_several_yaml_documents_loads_every_document(tmp_path: Path) -> None:
    text = (
        "- list: cats\n  items: [cat]\n---\n"
        + rule("proc.name in (cats)").lstrip("\n")
        + "---\n"
        + rule().lstrip("\n").replace("cat opens", "second")
    )
    path = write(tmp_path / "r.yaml", text)
    assert counts([path]) == {"cat opens": 4, "second": 4}


def test_a_directory_loads_its_files_in_name_order(tmp_path: Path) -> None:
    rules_dir = tmp_path / "rules.d"
    rules_dir.mkdir()
    # b appends to a list a defines: it loads only if a comes first
    write(rules_dir / "b.yaml", "- list: cats\n  items: [cat]\n  override: {items: append}\n")
    write(rules_dir / "a.yaml", "- list: cats\n  items: [dog]\n" + rule("proc.name in (cats)"))
    assert counts([str(rules_dir)]) == {"cat opens": 4}


@pytest.mark.parametrize(
    ("condition", "alerts"),
    [
        ("proc.name=cat_binaries", 4),
        ("proc.name = cat_binaries and fd.name != '/dev/null'", 3),
        ("proc.name!=cat_binaries", 0),
        ("proc.name in ( cat_binaries )", 4),
        ("proc.name='cat_binaries'", 0),  # quoted: the word itself, not the list
    ],
)
def test_a_list_name_used_bare_as_a_value_expands_to_its_items(
    tmp_path: Path, condition: str, alerts: int
) -> None:
    text = "- list: cat_binaries\n  items: [dog, cat]\n" + rule(condition)
    assert counts([write(tmp_path / "r.yaml", text)])["cat opens"] == alerts


def test_list_items_with_surrounding_whitespace_match_as_falco_pastes_them(
    tmp_path: Path,
) -> None:
    text = "- list: cat_binaries\n  items: [' cat ', \"dog\"]\n" + rule("proc.name=cat_binaries")
    assert counts([write(tmp_path / "r.yaml", text)])["cat opens"] == 4
    text = text.replace("proc.name=cat_binaries", "proc.name in ( cat_binaries )")
    assert counts([write(tmp_path / "r.yaml", text)])["cat opens"] == 4


def test_an_exception_value_already_quoted_is_pasted_as_falco_pastes_it(tmp_path: Path) -> None:
    extra = """\
      exceptions:
        - name: null
          fields: proc.cmdline
          comps: "="
          values: ['"cat /dev/null"']
    """
    path = write(tmp_path / "r.yaml", rule(extra=extra))
    assert counts([path])["cat opens"] == 0


def test_an_exception_list_in_parentheses_is_the_list(tmp_path: Path) -> None:
    extra = """\
      exceptions:
        - name: known files
          fields: [proc.name, fd.name]
          comps: [=, in]
          values: [[cat, (known_files)]]
    """
    text = "- list: known_files\n  items: [/dev/null, /etc/ld.so.cache]\n" + rule(extra=extra)
    assert counts([write(tmp_path / "r.yaml", text)])["cat opens"] == 2


def three_rules(tmp_path: Path) -> str:
    text = (
        rule()
        + rule().replace("cat opens", "cat shell opens").replace("[files, cat]", "[shell]")
        + rule().replace("cat opens", "other").replace("[files, cat]", "[files]")
    )
    return write(tmp_path / "r.yaml", text)


def enabled(path: str, *selection: Selector, name_match: str = "substring") -> list[str]:
    state = new_state()
    rules = load_rules([path], state, selection=selection, name_match=name_match)
    return [r.name for r in rules.engine.rules]


def test_minus_t_runs_only_rules_with_the_tag(tmp_path: Path) -> None:
    path = three_rules(tmp_path)
    assert enabled(path, Selector(True, "tag", "files", only=True)) == ["cat opens", "other"]
    both = (Selector(True, "tag", "shell", only=True), Selector(True, "tag", "cat", only=True))
    assert enabled(path, *both) == ["cat opens", "cat shell opens"]


def test_minus_d_matches_by_substring_by_default_and_exactly_on_request(tmp_path: Path) -> None:
    path = three_rules(tmp_path)
    assert enabled(path, Selector(False, "rule", "cat")) == ["other"]
    assert enabled(path, Selector(False, "rule", "cat"), name_match="exact") == [
        "cat opens",
        "cat shell opens",
        "other",
    ]
    assert enabled(path, Selector(False, "rule", "cat opens"), name_match="exact") == [
        "cat shell opens",
        "other",
    ]
    assert enabled(path, Selector(False, "rule", "*opens")) == ["other"]


def test_enabling_and_disabling_apply_in_order_later_wins(tmp_path: Path) -> None:
    path = three_rules(tmp_path)
    off_tag, on_rule = Selector(False, "tag", "files"), Selector(True, "rule", "other")
    assert enabled(path, off_tag, on_rule) == ["cat shell opens", "other"]
    assert enabled(path, on_rule, off_tag) == ["cat shell opens"]


def alert() -> Alert:
    return Alert(time_ns=1, rule="r", priority="Warning", output="o", tags=("b", "a"))


@pytest.mark.parametrize("keep_alive", [False, True])
def test_program_output_pipes_each_alert_to_the_command(tmp_path: Path, keep_alive: bool) -> None:
    out = tmp_path / "alerts.txt"
    options = OutputOptions(
        stdout=False, json=True, program=f"cat >> {out}", program_keep_alive=keep_alive
    )
    outputs = build_outputs(options)
    for _ in range(3):
        outputs.emit(alert())
    outputs.close()
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["rule"] == "r"


def test_json_include_properties_leave_out_output_and_tags(tmp_path: Path) -> None:
    import io

    stream = io.StringIO()
    options = OutputOptions(json=True, json_include_output=False, json_include_tags=False)
    outputs = build_outputs(options, stdout=stream)
    outputs.emit(alert())
    doc = json.loads(stream.getvalue())
    assert "output" not in doc and "tags" not in doc and doc["rule"] == "r"


def test_the_hostname_override_comes_from_the_environment() -> None:
    assert hostname_override({"FALCO_HOSTNAME": "falco-box"}) == "falco-box"
    both = {"FALCO_HOSTNAME": "falco-box", "BASTION_HOSTNAME": "bastion-box"}
    assert hostname_override(both) == "bastion-box"
    assert hostname_override({}) is None


def test_a_falco_style_configuration_file_drives_watch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = three_rules(tmp_path)
    sink = tmp_path / "program.txt"
    config = write(
        tmp_path / "bastion.yaml",
        f"""
        rules_files: [{path}]
        priority: warning
        rule_matching: all
        rules:
          - disable: {{tag: shell}}
        json_output: true
        json_include_tags_property: false
        buffered_outputs: true
        program_output: {{enabled: true, keep_alive: false, program: "cat >> {sink}"}}
        syscall_event_drops: {{threshold: 0.1, actions: [log, alert]}}
        webserver: {{enabled: false}}
        """,
    )
    monkeypatch.setenv("FALCO_HOSTNAME", "falco-box")
    argv = ["watch", "--replay", str(CAT_WRITE), "-c", config, "-o", "rule_name_match=exact"]
    assert main([*argv, "-D", "other"]) == 0
    captured = capsys.readouterr()
    docs = [json.loads(line) for line in captured.out.splitlines() if line]
    assert Counter(d["rule"] for d in docs) == {"cat opens": 4}
    assert all(d["hostname"] == "falco-box" and "tags" not in d for d in docs)
    assert len(sink.read_text().splitlines()) == 4
    assert "key 'webserver' is not used" in captured.err
    assert os.environ["FALCO_HOSTNAME"] == "falco-box"


def test_a_configuration_error_names_the_key(tmp_path: Path) -> None:
    from bastion.sensor.config import ConfigError, watch_config_from

    config = write(tmp_path / "bastion.yaml", "json_output: maybe\n")
    with pytest.raises(ConfigError) as info:
        watch_config_from(config, [])
    assert "json_output: expected true or false" in info.value.message
    with pytest.raises(ConfigError):
        watch_config_from(None, ["no-equals-sign"])
