"""What tests leave on the host, and how to tell what a test session left behind.

A `Snapshot` lists, per kind, the things that tests make and must remove again: mounts under a
test path, cgroups named `bst-test-*`, processes in a test cgroup, named network namespaces and
links with our prefixes, nftables tables with our names, and BPF programs, maps and links of the
probe (`bst_*` names; a link by its program). Each thing has a stable key (a mount's id, a
process's pid and start time, a BPF object's id) and a description for the report.
`new_since(before, after)` is what appeared during the run; the pytest plugin fails the session
when it is not empty.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from bastion._sys.proc import unescape_mountinfo

CGROUP_ROOT = "/sys/fs/cgroup"
NETNS_DIR = "/run/netns"  # where `ip netns add` puts named namespaces (ip-netns(8))
NET_CLASS = "/sys/class/net"
#: Substrings that mark a test's cgroup, mount, netns or nft table.
TEST_MARKS = ("bst-test", "bastion-test")
LINK_PREFIX = "bst"

Things = dict[str, str]  # stable key -> description for the report


@dataclass(frozen=True)
class Snapshot:
    mounts: Things = field(default_factory=dict)
    cgroups: Things = field(default_factory=dict)
    processes: Things = field(default_factory=dict)
    netns: Things = field(default_factory=dict)
    links: Things = field(default_factory=dict)
    nft_tables: Things = field(default_factory=dict)
    bpf: Things = field(default_factory=dict)

    def kinds(self) -> dict[str, Things]:
        return {
            "mounts": self.mounts,
            "cgroups": self.cgroups,
            "processes": self.processes,
            "network namespaces": self.netns,
            "network links": self.links,
            "nftables tables": self.nft_tables,
            "BPF programs, maps and links": self.bpf,
        }

    def is_empty(self) -> bool:
        return not any(self.kinds().values())


def snapshot(mount_roots: tuple[str, ...] = (), cgroup_root: str = CGROUP_ROOT) -> Snapshot:
    """What exists now. `mount_roots`: extra paths (the pytest tmp root) whose mounts count."""
    return Snapshot(
        mounts=mounts(mount_roots),
        cgroups=cgroups(cgroup_root),
        processes=processes(),
        netns=netns(),
        links=links(),
        nft_tables=nft_tables(),
        bpf=bpf_objects(),
    )


_SESSION_TOKEN = re.compile(r"bst-test-([0-9a-f]{4})-")


def _is_foreign(text: str, session: str | None) -> bool:
    """Whether `text` names only other sessions' things (`bst-test-<their token>-...`)."""
    if session is None:
        return False
    tokens = set(_SESSION_TOKEN.findall(text))
    return bool(tokens) and session not in tokens


def new_since(before: Snapshot, after: Snapshot, session: str | None = None) -> Snapshot:
    """The things in `after` that were not in `before`.

    With `session` (the token of `bundle.new_name`), things whose names carry only other
    sessions' tokens are left out: another test session on the same host made them. Things
    named without any token count, whoever made them.
    """
    old = before.kinds()
    new = {
        kind: {
            k: v
            for k, v in things.items()
            if k not in old[kind] and not _is_foreign(f"{k} {v}", session)
        }
        for kind, things in after.kinds().items()
    }
    return Snapshot(
        mounts=new["mounts"],
        cgroups=new["cgroups"],
        processes=new["processes"],
        netns=new["network namespaces"],
        links=new["network links"],
        nft_tables=new["nftables tables"],
        bpf=new["BPF programs, maps and links"],
    )


def report(leaked: Snapshot) -> str:
    lines = []
    for kind, things in leaked.kinds().items():
        if things:
            lines.append(f"{kind} ({len(things)}):")
            lines.extend(f"  {description}" for description in sorted(things.values()))
    return "\n".join(lines)


def mounts(roots: tuple[str, ...] = ()) -> Things:
    found: Things = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mount_id, mount_point = fields[0], unescape_mountinfo(fields[4])
            under_root = any(
                mount_point == root or mount_point.startswith(root.rstrip("/") + "/")
                for root in roots
            )
            if under_root or any(mark in mount_point for mark in TEST_MARKS):
                fstype = fields[fields.index("-") + 1]
                found[f"{mount_id} {mount_point}"] = f"{mount_point} ({fstype}, id {mount_id})"
    return found


#: Parent cgroups the runtime makes for containers (`/bastion/...`) and tests (`/bastion-test/...`).
PARENT_CGROUPS = ("bastion", "bastion-test")


def parent_cgroups(root: str = CGROUP_ROOT) -> set[str]:
    """The parent cgroup directories that exist now, in every hierarchy."""
    found: set[str] = set()
    for hierarchy in hierarchies(root):
        for name in PARENT_CGROUPS:
            path = os.path.join(hierarchy, name)
            if os.path.isdir(path):
                found.add(path)
    return found


def hierarchies(root: str = CGROUP_ROOT) -> list[str]:
    """Every mounted hierarchy under `root` (the v2 one may be nested, as `unified` here)."""
    try:
        entries = [e for e in os.scandir(root) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    out = [root] if os.path.exists(os.path.join(root, "cgroup.procs")) else []
    out.extend(
        entry.path
        for entry in entries
        if os.path.exists(os.path.join(entry.path, "cgroup.procs"))
        and entry.name not in PARENT_CGROUPS
    )
    return out


def remove_empty_parents(made: set[str]) -> None:
    """rmdir the parent cgroups in `made` that hold no child cgroup any more (a busy or
    non-empty one is left, and the leak check names its children)."""
    for path in sorted(made, reverse=True):
        try:
            os.rmdir(path)
        except OSError:
            pass


def cgroups(root: str = CGROUP_ROOT) -> Things:
    """Cgroup directories named `bst-test-*` in every hierarchy (their children are implied)."""
    found: Things = {}
    stack = [root]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:  # removed while we walked
            continue
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False):
                continue
            if entry.name.startswith("bst-test-"):
                found[entry.path] = entry.path
            else:
                stack.append(entry.path)
    return found


def processes() -> Things:
    """Processes whose cgroup path is a test's (`/bastion-test/...` or `bst-test-*`)."""
    found: Things = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                cgroup = f.read()
            if not any(mark in cgroup for mark in TEST_MARKS):
                continue
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # exited while we looked
            continue
        # proc_pid_stat(5): field 22 is the start time; comm (field 2) may hold spaces and ")".
        start_time = stat.rpartition(")")[2].split()[19]
        path = next(p for p in cgroup.split("\n") if any(m in p for m in TEST_MARKS))
        found[f"{pid} {start_time}"] = f"pid {pid}: {cmdline or '?'} (cgroup {path})"
    return found


def netns() -> Things:
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return {}
    return {n: f"{NETNS_DIR}/{n}" for n in names if n.startswith("bst-test")}


def links() -> Things:
    try:
        names = os.listdir(NET_CLASS)
    except FileNotFoundError:
        return {}
    return {n: n for n in names if n.startswith(LINK_PREFIX)}


def nft_tables() -> Things:
    if shutil.which("nft") is None:
        return {}
    result = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False)
    # test engines name their table after their network prefix (`bst` + 4 hex), as links
    return {
        line: line
        for line in result.stdout.splitlines()
        if any(mark in line for mark in TEST_MARKS) or line.split()[-1].startswith(LINK_PREFIX)
    }


#: The probe's (and the benches') BPF objects are all named bst_* (maps cut to 15 characters).
BPF_PREFIX = "bst_"


def _bpftool(*args: str) -> list[dict[str, object]]:
    if shutil.which("bpftool") is None:
        return []
    result = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True, check=False)
    try:
        parsed = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        return []
    return parsed if isinstance(parsed, list) else []


def bpf_objects() -> Things:
    """Loaded BPF programs and maps named bst_*, and the links that attach those programs."""
    found: Things = {}
    ours: set[object] = set()
    for prog in _bpftool("prog", "show"):
        name = str(prog.get("name", ""))
        if name.startswith(BPF_PREFIX):
            ours.add(prog.get("id"))
            found[f"prog {prog.get('id')}"] = f"program {name} (id {prog.get('id')})"
    for bpf_map in _bpftool("map", "show"):
        name = str(bpf_map.get("name", ""))
        if name.startswith(BPF_PREFIX):
            found[f"map {bpf_map.get('id')}"] = f"map {name} (id {bpf_map.get('id')})"
    for link in _bpftool("link", "show"):
        if link.get("prog_id") in ours:
            found[f"link {link.get('id')}"] = (
                f"link {link.get('id')} of program {link.get('prog_id')}"
            )
    return found
