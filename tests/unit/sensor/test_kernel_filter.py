"""What the kernel filter's compiler derives from rule sets (`bastion.sensor.kernel_filter`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.sensor.assemble import load_rules, new_state
from bastion.sensor.defaults import DEFAULT_RULES
from bastion.sensor.kernel_filter import (
    CANDIDATES,
    DENY_MASK,
    KernelFilter,
    PathClass,
    compile_filter,
)
from bastion_testing import shared_data

MACROS = """
- macro: open_read
  condition: >
    (evt.type in (open,openat,openat2) and evt.is_open_read=true and fd.typechar='f'
    and fd.num>=0)
- macro: open_write
  condition: >
    (evt.type in (open,openat,openat2) and evt.is_open_write=true and fd.typechar='f'
    and fd.num>=0)
"""
EVERY = {str(c) for c in CANDIDATES}


def derive(tmp_path: Path, *rules: tuple[str, str], output: str = "%proc.name") -> KernelFilter:
    """The filter for rules given as (name, condition), after `MACROS`."""
    text = MACROS + "".join(
        f'- rule: {name}\n  desc: d\n  condition: {cond}\n  output: "{output}"\n'
        "  priority: WARNING\n"
        for name, cond in rules
    )
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    loaded = load_rules([str(path)], new_state())
    return compile_filter(loaded.engine, loaded.ruleset)


def filtered(kf: KernelFilter) -> set[str]:
    return {str(c) for c in kf.classes}


def test_rules_on_other_events_leave_every_candidate_filtered(tmp_path: Path) -> None:
    kf = derive(tmp_path, ("exec", "evt.type=execve and proc.name=nc"))
    assert filtered(kf) == EVERY and kf.disabled is None
    probe = kf.open_filter()
    assert probe is not None and probe.deny == DENY_MASK
    assert ("/dev/null", True) in probe.paths and ("/usr/lib/", False) in probe.paths


def test_a_prefix_a_rule_reads_is_sent(tmp_path: Path) -> None:
    kf = derive(tmp_path, ("libs", "open_read and fd.name startswith /usr/lib"))
    # /usr/lib64/... starts with /usr/lib too; /lib and the rest stay filtered
    assert EVERY - filtered(kf) == {"/usr/lib/*", "/usr/lib64/*"}
    assert "rule 'libs'" in kf.kept["/usr/lib/*"]


def test_a_write_rule_does_not_keep_read_only_opens(tmp_path: Path) -> None:
    kf = derive(tmp_path, ("w", "open_write and fd.name startswith /usr/lib"))
    assert filtered(kf) == EVERY


@pytest.mark.parametrize(
    ("condition", "sent"),
    [
        ("open_read and fd.name = /dev/null", {"/dev/null"}),
        ("open_read and fd.name in (/dev/zero, /etc/passwd)", {"/dev/zero"}),
        ("open_read and fd.name pmatch (/proc)", {"/proc/*", "/proc/self/*"}),
        ("open_read and fd.name startswith /proc/self/", {"/proc/*", "/proc/self/*"}),
        ("open_read and fd.directory = /etc", {"/etc/ld.so.cache", "/etc/localtime"}),
        (
            "open_read and fd.filename = localtime",
            {"/etc/localtime"} | {str(c) for c in CANDIDATES if not c.exact},
        ),
        (
            "evt.type=openat and evt.arg.flags contains O_CLOEXEC and fd.name=/dev/zero",
            {"/dev/zero"},
        ),
        # no eligible open has these flags, or holds these texts (the probe sends them)
        ("evt.type=openat and evt.arg.flags contains O_WRONLY", set()),
        ("open_read and fd.nameraw contains '../'", set()),
        ("open_read and fd.name glob '/home/*/.ssh/*'", set()),
        ("open_read and fd.name contains id_rsa", {str(c) for c in CANDIDATES if not c.exact}),
    ],
)
def test_what_each_check_keeps(tmp_path: Path, condition: str, sent: set[str]) -> None:
    assert EVERY - filtered(derive(tmp_path, ("r", condition))) == sent


def test_a_condition_the_compiler_cannot_decide_keeps_everything(tmp_path: Path) -> None:
    kf = derive(tmp_path, ("any open", "evt.type=openat and proc.name=cat"))
    assert filtered(kf) == set()
    kf = derive(tmp_path, ("all types", "proc.name=cat"))
    assert filtered(kf) == set()


def test_a_rule_on_later_use_of_the_fd(tmp_path: Path) -> None:
    # fchmod of an fd: a file of the class would be named, an fd never sent would not
    kf = derive(tmp_path, ("chmod", "evt.type=fchmod and fd.directory = /etc"))
    assert EVERY - filtered(kf) == {"/etc/ld.so.cache", "/etc/localtime"}
    # a socket rule on connect: false for a file fd and for an unknown one alike
    kf = derive(tmp_path, ("net", "evt.type=connect and fd.typechar=4 and fd.sport=22"))
    assert filtered(kf) == EVERY
    # not fd.type=file: false for a file fd, true for an unknown one (a check on a missing
    # field is false, and not negates it)
    kf = derive(tmp_path, ("neg", "evt.type=fchmod and not fd.type=file"))
    assert filtered(kf) == set()


def test_an_output_showing_the_fd_of_a_later_event(tmp_path: Path) -> None:
    kf = derive(tmp_path, ("chmod", "evt.type=fchmod"), output="%fd.name")
    assert filtered(kf) == set()
    assert "output shows fd.name" in kf.kept["/dev/null"]
    # setns with a file fd fails (EINVAL): a rule on successful setns never shows it
    kf = derive(tmp_path, ("ns", "evt.type=setns and evt.res=SUCCESS"), output="%evt.args")
    assert filtered(kf) == EVERY


def test_closes_of_kept_back_opens(tmp_path: Path) -> None:
    assert derive(tmp_path, ("exec", "evt.type=execve")).closes
    # a close whose fd the table does not know has typechar "o": this rule cannot see it, so
    # closes may be kept back; but it can see the close of a file fd, so no open is
    kf = derive(tmp_path, ("c", "evt.type=close and fd.typechar=f and proc.name=cat"))
    assert kf.closes and filtered(kf) == set()
    kf = derive(tmp_path, ("c", "evt.type=close and proc.name=cat"))
    assert not kf.closes and kf.closes_sent is not None and "rule 'c'" in kf.closes_sent
    probe = kf.open_filter()
    assert probe is not None and not probe.closes


def test_fields_over_the_whole_fd_table_turn_the_filter_off(tmp_path: Path) -> None:
    kf = derive(tmp_path, ("count", "evt.type=execve and proc.fdopencount > 100"))
    assert kf.classes == () and kf.open_filter() is None
    assert kf.disabled is not None and "proc.fdopencount" in kf.disabled


def test_exceptions_are_part_of_the_condition(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        MACROS
        + """
- rule: r
  desc: d
  condition: evt.type=fchmod
  output: "%proc.name"
  priority: WARNING
  exceptions:
    - name: lib
      fields: [fd.name]
      comps: [startswith]
      values: [[/usr/lib/]]
"""
    )
    loaded = load_rules([str(path)], new_state())
    kf = compile_filter(loaded.engine, loaded.ruleset)
    # `not fd.name startswith /usr/lib/`: false for a file there, true for an unknown fd
    assert "/usr/lib/*" not in filtered(kf) and "/lib/*" in filtered(kf)


def test_path_classes_are_folded_absolute_paths() -> None:
    for bad in ("usr/lib/", "/usr/../etc/", "/usr//lib/", "/usr/lib"):
        with pytest.raises(ValueError):
            PathClass(bad)
    assert str(PathClass("/dev/null", exact=True)) == "/dev/null"


@shared_data.needs(*shared_data.FALCO_RULES)
def test_falco_stable_and_bastion_rules() -> None:
    """With Falco's stable rules and bastion's, the bulk read-only opens are all filtered."""
    stable = shared_data.shared_path(*shared_data.FALCO_RULES)
    loaded = load_rules([str(stable), str(DEFAULT_RULES)], new_state())
    kf = compile_filter(loaded.engine, loaded.ruleset)
    assert {"/dev/null", "/usr/lib/*", "/proc/self/*", "/sys/*"} <= filtered(kf), kf.kept
