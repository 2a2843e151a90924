"""What a bench needs from the host: the busybox bundle, the cgroup tree it cleans, machine facts.

Nothing here is timed. The cgroups of bench containers live under `/bastion-bench/` at the root of
every hierarchy (an absolute `cgroupsPath`): never under the caller's own cgroup, which on this host
is the machine's (`memory:/process_api/...`).
"""

from __future__ import annotations

import contextlib
import copy
import glob
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CGROUP_FS = "/sys/fs/cgroup"
#: The hybrid hierarchy's cgroup2 mount, which crun refuses (bench/README.md, "crun refuses").
UNIFIED = "/sys/fs/cgroup/unified"
#: Parent, in every hierarchy, of the bench containers' cgroups.
CGROUP_PARENT = "bastion-bench"


def run_briefly(argv: list[str], timeout: float = 10) -> tuple[int | None, str, str]:
    """Run a command that is not timed: (exit code or None on timeout/no such file, out, err).

    In its own session, so a timeout kills its whole group and no grandchild keeps our pipes open.
    """
    try:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
    except OSError as exc:
        return None, "", str(exc)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None, "", f"{' '.join(argv)}: no answer in {timeout:g} s"
    return proc.returncode, out, err


def first_line(argv: list[str]) -> str:
    """The first line a command prints (stdout, else stderr), or why it could not run."""
    code, out, err = run_briefly(argv)
    text = (out.strip() or err.strip()).splitlines()
    if code is None:
        return f"({err})"
    return text[0] if text else f"(exit status {code})"


def make_rootfs(dest: str) -> str:
    """Put a busybox rootfs at `dest`; say where it came from.

    The test image (`tests/helpers/bastion_testing/rootfs.py`) is copied when it can be had, so the
    bench runs what the tests run; otherwise a minimal one is built from the host's static busybox.
    """
    try:
        sys.path.insert(0, os.path.join(REPO, "tests", "helpers"))
        from bastion_testing.rootfs import busybox_rootfs

        source = busybox_rootfs()
    except Exception as exc:  # any failure: fall back, and say why in the facts
        _build_rootfs(dest)
        return f"built from /bin/busybox (test image unavailable: {exc})"
    # A private copy: a runtime may create mount points in it; the cached image stays untouched.
    subprocess.run(
        ["cp", "-a", "--reflink=auto", "--no-target-directory", source, dest],
        check=True,
        capture_output=True,
    )
    return f"copy of the test image {source}"


def _build_rootfs(dest: str) -> None:
    busybox = os.path.realpath(shutil.which("busybox") or "/bin/busybox")
    for sub in ("bin", "dev", "proc", "sys", "tmp", "etc", "root", "run"):
        os.makedirs(os.path.join(dest, sub), exist_ok=True)
    shutil.copy2(busybox, os.path.join(dest, "bin", "busybox"))
    listing = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=False)
    for applet in listing.stdout.split() or ["bin/sh", "bin/true"]:
        link = os.path.join(dest, applet)
        if applet != "bin/busybox" and not os.path.lexists(link):
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink("/bin/busybox", link)


def base_spec(runc: str | None, args: list[str] | None = None) -> dict[str, object]:
    """`runc spec` with no terminal, a read-only root and `args` as the process (default
    /bin/true); bastion's template if there is no runc."""
    if runc is not None:
        tmp = tempfile.mkdtemp(prefix="bastion-bench-spec-")
        try:
            subprocess.run([runc, "spec", "--bundle", tmp], check=True, capture_output=True)
            with open(os.path.join(tmp, "config.json")) as f:
                spec: dict[str, object] = json.load(f)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        sys.path.insert(0, os.path.join(REPO, "src"))
        from bastion.oci.defaults import default_spec

        spec = default_spec()
    process = spec["process"]
    assert isinstance(process, dict)
    process["terminal"] = False
    process["args"] = list(args or ["/bin/true"])
    spec["root"] = {"path": "rootfs", "readonly": True}
    return spec


def write_config(bundle: str, spec: dict[str, object], cgroups_path: str) -> None:
    config = copy.deepcopy(spec)
    linux = config.setdefault("linux", {})
    assert isinstance(linux, dict)
    linux["cgroupsPath"] = cgroups_path
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f, indent=1)


def remove_cgroups(tag: str) -> list[str]:
    """rmdir our cgroups (names holding `-<tag>-`) under every `bastion-bench`; what stayed."""
    left = []
    for parent in sorted(glob.glob(os.path.join(CGROUP_FS, "*", CGROUP_PARENT))):
        for name in os.listdir(parent):
            child = os.path.join(parent, name)
            if f"-{tag}-" not in name or not os.path.isdir(child):
                continue
            for dirpath, _, _ in os.walk(child, topdown=False):
                try:
                    os.rmdir(dirpath)
                except OSError as exc:
                    left.append(f"{dirpath}: {exc.strerror}")
        with contextlib.suppress(OSError):  # another bench's cgroups may still be in it
            os.rmdir(parent)
    return left


def cgroup_mode() -> str:
    with open("/proc/self/mounts") as f:
        mounts = {fields[1]: fields[2] for fields in (line.split() for line in f)}
    if mounts.get(CGROUP_FS) == "cgroup2":
        return "unified (v2)"
    return "hybrid (v1 + v2 at unified)" if mounts.get(UNIFIED) == "cgroup2" else "legacy (v1)"


def machine_facts(tools: dict[str, str | None]) -> dict[str, object]:
    """Kernel, CPUs, Pythons, cgroup mode, tool versions, bastion's commit."""
    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next(
            (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?"
        )
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    versions = {
        name: first_line([path, "--version"]) if path else "not found"
        for name, path in tools.items()
    }
    bastion = tools.get("bastion-runc")
    launcher = "?"
    if bastion is not None:
        with contextlib.suppress(OSError), open(bastion, "rb") as fb:
            first = fb.readline()
            # the compiled front (scripts/setup) execs the Python launcher beside it
            launcher = (
                f"compiled front, then {python_launcher(bastion)}"
                if first.startswith(b"\x7fELF")
                else first.decode(errors="replace").strip()
            )
    with open(os.path.join(REPO, "src", "bastion", "__init__.py")) as f:
        found = re.search(r'__version__ = "([^"]+)"', f.read())
    commit = first_line(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    dirty = first_line(["git", "-C", REPO, "status", "--porcelain", "--", "src"])
    return {
        "kernel": platform.release(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_mib": mem_kib // 1024,
        "loadavg_at_start": load,
        "python_bench": f"{platform.python_version()} ({sys.executable})",
        "python_floor": first_line(["/usr/bin/python3", "--version"]),
        "cgroups": cgroup_mode(),
        "page_fault_us": fault_cost_us(),
        "tools": versions,
        "bastion": {
            "version": found.group(1) if found else "?",
            "commit": commit
            + (" + uncommitted changes in src" if not dirty.startswith("(") else ""),
            "launcher": launcher,
        },
    }


def fault_cost_us(pages: int = 4096, rounds: int = 5) -> float:
    """What one minor page fault costs here, in microseconds: the median over `rounds` of
    touching every page of a new anonymous mapping, less the same loop over pages already
    there. A Python process start is mostly such faults (the interpreter's data and heap, and
    after a fork every page either process writes), and their price moves with the CPU's
    mitigations more than any other figure: 3.3-4.4 us on one machine of this kind (kernel
    entry and exit clear the CPU's buffers there), under 1 us on others."""
    import mmap

    size = pages * mmap.PAGESIZE
    figures = []
    for _ in range(rounds):
        with mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS) as m:
            offsets = range(0, size, mmap.PAGESIZE)
            t0 = time.perf_counter_ns()
            for offset in offsets:
                m[offset] = 1
            t1 = time.perf_counter_ns()
            for offset in offsets:
                m[offset] = 2
            t2 = time.perf_counter_ns()
        figures.append(((t1 - t0) - (t2 - t1)) / pages / 1e3)
    figures.sort()
    return round(figures[len(figures) // 2], 2)


def python_launcher(bastion: str) -> str:
    """The Python launcher behind a bastion-runc: itself, or the one its compiled front execs
    (scripts/setup: `<venv>/libexec/bastion-runc` beside `<venv>/bin/bastion-runc`)."""
    with open(bastion, "rb") as f:
        if f.read(4) != b"\x7fELF":
            return bastion
    venv = os.path.dirname(os.path.dirname(os.path.abspath(bastion)))
    return os.path.join(venv, "libexec", "bastion-runc")


def executable(path: str | None) -> str | None:
    """`path` if it is an executable file, else None."""
    return path if path and os.path.isfile(path) and os.access(path, os.X_OK) else None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def catch_signals() -> None:
    """Ctrl-C, SIGTERM and SIGHUP become KeyboardInterrupt, so the clean-up runs for each."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with it ignored
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)


def ignore_signals() -> None:
    """From here on (the clean-up), a second Ctrl-C must not cut it short."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)


def collect(into: list[str], cleanup: Callable[[], list[str]]) -> None:
    """Run one cleanup step; keep what it could not remove, and let the other steps run."""
    try:
        into.extend(cleanup())
    except Exception as exc:
        into.append(f"{cleanup}: {exc}")


def timestamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def print_facts(facts: dict[str, object], runs: int, warmup: int) -> None:
    """The machine facts a reader needs beside the figures."""
    for key in (
        "kernel",
        "cpu",
        "cores",
        "cores_usable",
        "memory_mib",
        "loadavg_at_start",
        "python_bench",
        "python_floor",
        "cgroups",
        "page_fault_us",
        "rootfs",
    ):
        print(f"  {key}: {facts[key]}")
    versions = facts["tools"]
    assert isinstance(versions, dict)
    for name, version in versions.items():
        print(f"  {name}: {version}")
    print(f"  bastion: {facts['bastion']}")
    print(f"  {runs} timed rounds after {warmup} warm-up; order rotated each round")


def save_results(bench: str, started: str, document: dict[str, object]) -> str:
    """Write `bench/results/<bench>-<started>.json` (git ignores it); its path from the repo."""
    os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
    out = os.path.join(REPO, "bench", "results", f"{bench}-{started}.json")
    with open(out, "w") as f:
        json.dump(document, f, indent=1)
    return os.path.relpath(out, REPO)


def run_main(main: Callable[[], int]) -> None:
    """The benches' entry point: exit with main()'s status; Ctrl-C ends cleanly (the clean-up ran
    in main's finally blocks)."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\nbench: interrupted; cleaned up", file=sys.stderr)
        sys.exit(130)
