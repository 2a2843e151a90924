"""Decoded events and their Falco text agree with sysdig 0.29 on 15 public captures.

sysdig (`sysdig -r FILE -p '%evt.num %evt.type %evt.dir %evt.args'`) is the independent reader.
Every event sysdig prints must match ours in name, direction and ``evt.args`` text, with these
known differences allowed (each is sysdig 0.29 vs today's Falco, or state we do not have here):

- resolved parts that need libsinsp's state (fd names, process names of pids, user names,
  relative paths, fd-list type letters) may be present on sysdig's side only;
- enum flags: sysdig 0.29 stops at the first name (``AF_LOCAL``), Falco prints all names that
  equal the value (``AF_LOCAL|AF_UNIX``);
- an ERRNO whose older type was hex (mmap's ``res``) prints in hex there;
- execve's ``vpgid`` was called ``pgid``; a ``-1`` uid prints ``-1(<NONE>)`` in Falco;
- generic events: PPM_SC 298 was called ``sigreturn``, code 0 prints as ``<unknown>``;
- sysdig 0.29 does not number events whose code it does not know (>= 354).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter

import pytest

from bastion.sensor.capture import open_scap
from bastion.sensor.capture.scap_decode import iter_events
from bastion.sensor.events.model import Event, ParamType
from bastion.sensor.events.render import args_text, param_parts
from bastion_testing import shared_data

CAPTURES = shared_data.shared_path(*shared_data.CAPTURES)
SYSDIG = shutil.which("sysdig")
pytestmark = pytest.mark.skipif(
    SYSDIG is None or not CAPTURES.is_dir(), reason="needs sysdig and the public captures"
)
NAMES = (
    sorted(p.name for p in CAPTURES.glob("*.scap") if p.name != "curl_google_comments.scap")
    if CAPTURES.is_dir()
    else []
)
T = ParamType
STATEFUL = frozenset({T.FD, T.PID, T.UID, T.GID, T.FSPATH, T.FSRELPATH})
LINE = re.compile(r"(\d+) (\S+) ([<>]) ?(.*)", re.S)
OLD_NAMES = {"rt_sigreturn": "sigreturn", "unknown": "<unknown>"}
RENAMED = {"vpgid": "(?:v?pgid)"}


def sysdig_lines(name: str) -> dict[int, re.Match[str]]:
    assert SYSDIG is not None
    out = subprocess.run(
        [SYSDIG, "-r", str(CAPTURES / name), "-p", "%evt.num %evt.type %evt.dir %evt.args"],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout.decode("utf-8", "surrogateescape")
    lines: list[str] = []
    for line in out.removesuffix("\n").split("\n"):
        if LINE.fullmatch(line) or not lines:
            lines.append(line)
        else:  # a value with a newline in it (container JSON) continues the line
            lines[-1] += "\n" + line
    found = {}
    for line in lines:
        match = LINE.fullmatch(line)
        if match:
            found[int(match.group(1))] = match
    return found


def pattern(event: Event) -> str:
    """A regex for sysdig's evt.args of `event`, allowing the differences listed above."""
    first = next(iter(event.specs.values()), None)
    if first is not None and first.type == T.SYSCALLID:
        return ""
    parts = []
    for name, spec in event.specs.items():
        key = RENAMED.get(name, re.escape(name)) + "="
        rendered = param_parts(event, name)
        if rendered is None:
            parts.append(key + "(?:NULL|<NA>|)")
            continue
        raw, resolved = (args_text_value(event, name), "") if spec.type in _BUFFERS else rendered
        value = re.escape(raw)
        if spec.type == T.ERRNO and raw.isdigit():
            value = f"(?:{value}|[0-9A-F]+)"
        if spec.type == T.FDLIST:
            value = value.replace(r"\?", ".")
        if spec.type == T.SOCKTUPLE and raw.startswith("->"):
            value = "[0-9a-f]+->[0-9a-f]+ " + re.escape(raw[2:])
        if spec.type in STATEFUL:
            value += r"(?:\(.*?\))?"
        elif resolved:
            names = resolved.split("|")[0] if spec.type.startswith("ENUM") else resolved
            value += f"(?:\\({re.escape(names)}\\)|\\({re.escape(resolved)}\\))"
        parts.append(key + value)
    return " ".join(parts)


_BUFFERS = frozenset({T.BYTEBUF, T.CHARBUFARRAY})


def args_text_value(event: Event, name: str) -> str:
    """A buffer as sysdig's -p prints it: cut to 80 characters."""
    text = args_text(_only(event, name), max_buffer=80)
    return text.split("=", 1)[1]


def _only(event: Event, name: str) -> Event:
    clone = Event(
        num=event.num,
        ts=event.ts,
        cpu=event.cpu,
        tid=event.tid,
        pid=event.pid,
        type=event.type,
        dir=event.dir,
        category=event.category,
        params={name: event.params[name]},
        specs={name: event.specs[name]},
    )
    return clone


@pytest.mark.parametrize("name", NAMES)
def test_events_match_sysdig(name: str) -> None:
    lines = sysdig_lines(name)
    codes = [raw.type for raw in open_scap(CAPTURES / name).events()]
    compared: Counter[str] = Counter()
    mismatches = []
    number = 0
    for code, event in zip(codes, iter_events(open_scap(CAPTURES / name)), strict=True):
        if code >= 354:
            continue
        number += 1
        line = lines.get(number)
        if line is None:
            continue  # sysdig hides it (procinfo, early container events)
        sd_type, sd_dir, sd_args = line.group(2), line.group(3), line.group(4)
        if sd_args.endswith(" "):
            sd_args = sd_args[:-1]  # sysdig 0.29 ends evt.args with a space, Falco does not
        assert sd_type in (event.type, OLD_NAMES.get(event.type)), (number, line.group(0))
        assert sd_dir == event.dir
        compared[event.type] += 1
        if not re.fullmatch(pattern(event), sd_args, re.S):
            mismatches.append((number, sd_args[:200], args_text(event, max_buffer=80)[:200]))
    assert sum(compared.values()) == len(lines)  # every line sysdig printed was compared
    assert not mismatches, mismatches[:5]


def test_specific_parameters_match_sysdig() -> None:
    """execve exe/args, open name/flags and connect tuples, field by field."""
    seen: Counter[str] = Counter()
    for name in NAMES:
        lines = sysdig_lines(name)
        codes = [raw.type for raw in open_scap(CAPTURES / name).events()]
        decoded = iter_events(open_scap(CAPTURES / name))
        events = [e for c, e in zip(codes, decoded, strict=True) if c < 354]
        for number, event in enumerate(events, start=1):
            line = lines.get(number)
            if line is None or event.dir != "<":
                continue
            fields = dict(re.findall(r"(\w+)=(\S*)", line.group(4)))
            if event.type == "execve" and "exe" in event.params:
                assert fields["exe"] == event.params["exe"]
                args = event.params.get("args", ())
                assert isinstance(args, tuple)
                expected = "".join(f"{a}." for a in args)
                assert fields["args"] == (expected if len(expected) <= 80 else fields["args"])
                seen["execve"] += 1
            elif event.type == "open" and "name" in event.params:
                path = event.params["name"]
                assert fields["name"] in (
                    path,
                    f"{path}({fields['name'][len(str(path)) + 1 : -1]})",
                )
                parts = param_parts(event, "flags")
                assert parts is not None
                assert fields["flags"] == f"{parts[0]}({parts[1]})"
                seen["open"] += 1
            elif event.type == "connect" and "tuple" in event.params:
                rendered = param_parts(event, "tuple")
                assert rendered is not None
                # unix: both kernel pointers, then (after a space) the path
                assert f"tuple={rendered[0]}" in line.group(4)
                seen["connect"] += 1
    assert seen["execve"] >= 5
    assert seen["open"] >= 50
    assert seen["connect"] >= 5
