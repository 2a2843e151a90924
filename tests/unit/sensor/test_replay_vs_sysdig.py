"""Replay: rules run on the shared .scap captures give exactly the alerts sysdig's filter gives.

For each case a rule with the condition runs through the real pipeline (replay source, state
tables, fields, engine) and we compare with Debian's sysdig 0.29 (`sysdig -r FILE -p FMT
FILTER`), an independent reader: the alert count is recorded here (so the test runs without
sysdig), and when sysdig is installed the rendered lines must match it line for line.
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from bastion.sensor.assemble import load_rules
from bastion.sensor.pipeline import Pipeline
from bastion.sensor.replay import open_replay
from bastion.sensor.state import SensorState
from bastion_testing import shared_data

CAPTURES = shared_data.shared_path(*shared_data.CAPTURES)
pytestmark = shared_data.needs(*shared_data.CAPTURES)
# a leading `*` makes sysdig print lines with unreadable fields (<NA>) instead of hiding them
FORMAT = "*%evt.num %evt.type %proc.name %fd.name"
NO_FDNAME = "*%evt.num %evt.type %proc.name"
NO_EVTNUM = "*%evt.type %proc.name %fd.name"

# Where Debian's sysdig 0.29 (libs of 2022) and current Falco (falcosecurity/libs master, which
# bastion follows) disagree, the case says why and leaves the differing events or field out:
#
# - MMAP: libs 0.17 (commit e2d08e5, "Fix 'mmap' and 'mmap2' system calls parsing so that they
#   can be filtered using the fd parameter") flags mmap/mmap2 EF_USES_FD; sysdig 0.29 gives
#   them no fd (fd.* <NA>). Conditions on fd.* leave mmap out; other cases drop %fd.name.
# - PNAME: sysdig 0.29 reads proc.pname of a non-main thread from the thread's own creator
#   (curl for curl's resolver thread); libs now walk from the main thread
#   (thread_manager::get_ancestor_process), so the thread's parent is bash like its process's.
# - UNIX_CONNECT: a failed connect (ENOENT) on a unix socket: sysdig 0.29 prints the call's
#   tuple as fd.name, libs' parse_connect_exit leaves a failed connect's fd as it was ("").
# - RECONNECT: a UDP socket connected again (event 231) to another peer: libs overwrite the
#   destination with the kernel's tuple ("Always overwrite destination address and port"),
#   sysdig 0.29 kept the first one, and so still matched fd.sip=::1 on 231 and 233.
# - IPV6_L4PROTO: in captures whose socket exit carries only the fd (domain, type and protocol
#   are on the enter event), sysdig 0.29 leaves the l4proto unknown until bind/connect; libs
#   take them from the enter event (the scap converter) and add_socket sets tcp at once
#   (events 849, 1149 and the port-0 bind 1151 of single_ipv6_conn).
# - EVTNUM: sysdig 0.29 does not know event codes 354+ (useradded/groupadded, written at the
#   start of newer captures) and skips them without numbering; libs count them.
#
# (capture, condition, alerts sysdig printed for `sysdig -r capture condition`, line format)
CASES = [
    ("open-multiple-files.scap", "evt.type=open and evt.dir=<", 13, FORMAT),
    (
        "open-multiple-files.scap",
        "evt.type=open and evt.dir=< and evt.is_open_read=true",
        13,
        FORMAT,
    ),
    ("cat_write.scap", "evt.type=open and evt.dir=<", 4, FORMAT),
    ("cat_write.scap", "evt.type=execve and evt.dir=<", 1, FORMAT),
    ("cat_write.scap", "evt.dir=< and fd.num=3 and evt.type!=mmap", 14, FORMAT),  # MMAP
    ("curl_google.scap", "evt.type=connect and evt.dir=<", 4, NO_FDNAME),  # UNIX_CONNECT
    ("curl_google.scap", "evt.type=connect and evt.dir=< and fd.sport=80", 1, FORMAT),
    ("curl_google.scap", "proc.name=curl and evt.type=open and evt.dir=<", 48, FORMAT),
    ("curl_google.scap", "evt.dir=< and fd.typechar=6", 17, FORMAT),
    ("curl_google.scap", "evt.dir=< and fd.typechar=u", 6, NO_FDNAME),  # UNIX_CONNECT
    ("curl_google.scap", "evt.type=open and evt.dir=< and evt.res!=SUCCESS", 1, FORMAT),
    # PNAME, MMAP
    ("curl_google.scap", "evt.dir=< and proc.pname=bash and thread.ismain=true", 519, NO_FDNAME),
    ("curl_google.scap", 'evt.dir=< and fd.name glob "/lib/*" and evt.type!=mmap', 40, FORMAT),
    ("curl_google.scap", "evt.dir=< and evt.type=close and fd.name contains resolv", 3, FORMAT),
    ("connect_localhost.scap", "evt.type=connect and evt.dir=<", 1, FORMAT),
    ("connect_localhost.scap", "evt.dir=< and fd.sip=127.0.0.1", 1, FORMAT),
    ("single_ipv6_conn.scap", "fd.typechar=6 and evt.dir=<", 10, FORMAT),
    (
        "single_ipv6_conn.scap",
        "evt.dir=< and fd.l4proto=tcp and not evt.num in (849, 1149, 1151)",  # IPV6_L4PROTO
        7,
        FORMAT,
    ),
    ("test_ipv6_client.scap", "evt.type=connect and evt.dir=<", 2, NO_FDNAME),  # RECONNECT
    (
        "test_ipv6_client.scap",
        'evt.dir=< and fd.sip="::1" and not evt.num in (231, 233)',  # RECONNECT
        4,
        FORMAT,
    ),
    ("psp_run_as_user_0_container.scap", "evt.type=execve and evt.dir=<", 1, FORMAT),
    (
        "psp_run_as_user_0_container.scap",
        "evt.type in (open,openat) and evt.dir=< and fd.name startswith /etc",
        1,
        FORMAT,
    ),
    (
        "psp_run_as_user_0_container.scap",
        "evt.dir=< and proc.aname[2]=containerd-shim",
        122,
        NO_FDNAME,  # MMAP
    ),
    (
        "psp_run_as_user_0_container.scap",
        "evt.dir=< and proc.aname[2]=containerd-shim and evt.type!=mmap",
        106,
        FORMAT,
    ),
    ("sample.scap", "evt.type=write and evt.dir=<", 3, NO_EVTNUM),  # EVTNUM
    ("syscall.scap", "evt.dir=<", 6, FORMAT),
    # more fields: process identity and users (execve inside a docker container)
    (
        "psp_run_as_user_0_container.scap",
        "evt.type=execve and evt.dir=<",
        1,
        "*%evt.num %user.name %user.uid %group.gid %proc.cmdline %proc.exe %container.id"
        " %proc.pname %proc.ppid %proc.vpid %thread.vtid %proc.tty %user.loginuid %proc.sid"
        " %proc.vpgid",
    ),
    (
        "psp_run_as_user_0_container.scap",
        "evt.type=open and evt.dir=< and container.id!=host",
        8,
        "*%evt.num %user.name %proc.cmdline %container.id %fd.name %evt.res %fd.directory"
        " %fd.filename %fd.typechar",
    ),
    # fd fields of known and unknown fds (fd.num/typechar of fds opened before the capture)
    (
        "cat_write.scap",
        "evt.dir=< and evt.type in (open,read,write,close,fstat,execve,brk,access)",
        24,
        "*%evt.num %evt.type %evt.res %fd.num %fd.typechar %fd.name %proc.pname %proc.cmdline"
        " %user.name %user.uid %group.gid",
    ),
    (
        # fd.typechar is left out: for a failed `open` (not openat) sysdig 0.29 guesses "f",
        # libs' sinsp_evt::extract_typechar "o"
        "curl_google.scap",
        "evt.dir=< and evt.type in (open,close,read,fstat) and proc.name=curl",
        201,
        "*%evt.num %evt.type %evt.res %fd.num %fd.name %fd.directory %fd.filename"
        " %proc.cmdline %proc.pid",
    ),
    # every call of a whole capture, both directions: fd numbers (the enter's fd serves the
    # exit; -1 on the enter of a call that makes one), fd kinds, results, thread ids
    (
        "curl_google.scap",
        "evt.dir=< and evt.type!=mmap",  # MMAP
        487,
        "*%evt.num %evt.type %proc.name %fd.num %fd.type %evt.res %thread.tid %proc.ppid",
    ),
    (
        "curl_google.scap",
        "evt.dir=> and not evt.type in (mmap, procinfo, switch)",  # MMAP
        489,
        "*%evt.num %evt.type %proc.name %fd.num %fd.type %fd.name",
    ),
    # container metadata from the capture's `container` events, users from `useradded`
    (
        "psp_run_as_user_0_container.scap",
        "evt.type in (open, execve, chdir)",
        18,
        "*%evt.num %proc.name %proc.cwd %proc.exepath %thread.tid %proc.aname[1]"
        " %proc.aname[3] %container.name %container.image %container.type %container.image.id"
        " %container.privileged %container.image.repository %container.image.tag"
        " %container.image.digest",
    ),
    (
        "sample.scap",
        "evt.dir=< and evt.type in (write,read,openat,close)",
        5,
        "*%evt.type %proc.name %user.name %user.uid %group.name %container.id %container.name",
    ),  # EVTNUM
    # a process met first at its execve: pid, parent id and cgroups (so its container) from it
    (
        "psp_run_as_user_65534_container.scap",
        "evt.dir=< and evt.type!=mmap",  # MMAP
        1,
        "*%evt.num %evt.type %proc.name %proc.pid %proc.ppid %proc.pname %user.name %user.uid"
        " %container.id %container.name %proc.exepath %thread.tid",
    ),
    # socket ends (fd.lip/rip/lport/rport and fd.is_server need the capture's interface
    # list, which the replay does not read yet: left out)
    (
        "connect_localhost.scap",
        "evt.type=connect and evt.dir=<",
        1,
        "*%evt.num %fd.cip %fd.sip %fd.cport %fd.sport %fd.l4proto %evt.res %proc.pid %fd.typechar",
    ),
    (
        "single_ipv6_conn.scap",
        "evt.dir=< and evt.type in (accept,connect,read,write)",
        7,
        "*%evt.num %evt.type %fd.cip %fd.sip %fd.cport %fd.sport %evt.res",  # UNIX_CONNECT
    ),
]


def _ours(tmp_path: Path, capture: str, condition: str, fmt: str) -> list[str]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        textwrap.dedent(
            f"""\
            - rule: case
              desc: replay case
              condition: >
                {condition}
              output: "{fmt}"
              priority: NOTICE
              warn_evttypes: false
            """
        )
    )
    state = SensorState(runtime_roots=())
    loaded = load_rules([str(rules)], state)
    pipeline = Pipeline(engine=loaded.engine, state=state, hostname="replay")
    alerts = pipeline.feed(open_replay(str(CAPTURES / capture), state))
    return [a.output for a in alerts]


@pytest.mark.parametrize(("capture", "condition", "expected", "fmt"), CASES)
def test_alert_count_matches_sysdig(
    tmp_path: Path, capture: str, condition: str, expected: int, fmt: str
) -> None:
    assert len(_ours(tmp_path, capture, condition, fmt)) == expected


@pytest.mark.skipif(shutil.which("sysdig") is None, reason="Debian's sysdig is not installed")
@pytest.mark.parametrize(("capture", "condition", "expected", "fmt"), CASES)
def test_alert_lines_match_live_sysdig(
    tmp_path: Path, capture: str, condition: str, expected: int, fmt: str
) -> None:
    out = subprocess.run(
        ["sysdig", "-r", str(CAPTURES / capture), "-p", fmt, condition],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    theirs = [line.rstrip() for line in out.splitlines()]
    assert len(theirs) == expected
    assert [line.rstrip() for line in _ours(tmp_path, capture, condition, fmt)] == theirs
