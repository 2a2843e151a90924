"""The seccomp program cache (`seccomp.compile_cached`): a hit gives the program libseccomp
generated for the same object, the kernel enforces a program loaded from it, and filters that
need libseccomp's own load (flags, SCMP_ACT_NOTIFY) never go through it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bastion import jsonio
from bastion.oci.spec import LinuxSeccomp, LinuxSyscall
from bastion.runtime import seccomp

SRC = Path(__file__).resolve().parents[3] / "src"
EPERM, ENOSYS = 1, 38


def sec(*syscalls: LinuxSyscall, **fields: Any) -> LinuxSeccomp:
    fields.setdefault("default_action", "SCMP_ACT_ALLOW")
    return LinuxSeccomp(syscalls=syscalls, **fields)


def deny(*names: str, errno_ret: int = EPERM, action: str = "SCMP_ACT_ERRNO") -> LinuxSyscall:
    return LinuxSyscall(names=names, action=action, errno_ret=errno_ret)


def generated(obj: LinuxSeccomp) -> bytes:
    flt = seccomp.compile_filter(obj)
    try:
        return flt.export_bpf()
    finally:
        flt.release()


def entries(root: Path) -> list[str]:
    directory = root / seccomp.CACHE_DIR
    return sorted(os.listdir(directory)) if directory.exists() else []


def test_a_miss_stores_the_generated_program_and_a_hit_returns_it(tmp_path: Path) -> None:
    obj = sec(deny("personality"), deny("umask", errno_ret=ENOSYS))
    first = seccomp.compile_cached(obj, str(tmp_path))
    assert first.ctx == 0 and first.program == generated(obj)
    [name] = entries(tmp_path)
    assert (tmp_path / seccomp.CACHE_DIR / name).read_bytes() == first.program
    second = seccomp.compile_cached(obj, str(tmp_path))
    assert second.program == first.program
    assert entries(tmp_path) == [name]  # the same key: nothing new written


def test_every_field_is_in_the_key(tmp_path: Path) -> None:
    base = sec(deny("personality"))
    variants = [
        base,
        sec(deny("personality", errno_ret=ENOSYS)),
        sec(deny("personality"), default_action="SCMP_ACT_LOG"),
        sec(deny("personality"), architectures=("SCMP_ARCH_X86",)),
    ]
    programs = [seccomp.compile_cached(v, str(tmp_path)).program for v in variants]
    assert len(entries(tmp_path)) == len(variants)
    assert programs == [generated(v) for v in variants]


def test_a_damaged_entry_is_a_miss(tmp_path: Path) -> None:
    obj = sec(deny("personality"))
    seccomp.compile_cached(obj, str(tmp_path))
    [name] = entries(tmp_path)
    (tmp_path / seccomp.CACHE_DIR / name).write_bytes(b"\x01\x02\x03")  # not whole instructions
    assert seccomp.compile_cached(obj, str(tmp_path)).program == generated(obj)


def test_flags_and_notify_are_left_to_libseccomp(tmp_path: Path) -> None:
    flagged = sec(deny("personality"), flags=("SECCOMP_FILTER_FLAG_LOG",))
    notify = sec(LinuxSyscall(names=("personality",), action="SCMP_ACT_NOTIFY"))
    for obj in (flagged, notify):
        flt = seccomp.compile_cached(obj, str(tmp_path))
        try:
            assert flt.program is None and flt.ctx != 0
        finally:
            flt.release()
    assert entries(tmp_path) == []


CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
from bastion import jsonio
from bastion._sys import prctl, seccomp as scmp
from bastion.oci import decode_spec
from bastion.runtime import seccomp

config = {"ociVersion": "1.0.2", "linux": {"seccomp": jsonio.loads(sys.argv[2])}}
spec = decode_spec(jsonio.dumps(config))
flt = seccomp.compile_cached(spec.linux.seccomp, sys.argv[3])
prctl.set_no_new_privs()
seccomp.load(flt)
print(jsonio.dumps([flt.ctx, scmp.probe_syscall("personality", 0xFFFFFFFF),
                    scmp.probe_syscall("umask", 0o22), scmp.probe_syscall("getppid")]))
"""


def test_the_kernel_enforces_a_program_loaded_from_the_cache(tmp_path: Path) -> None:
    doc = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM},
            {"names": ["umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS},
        ],
    }
    argv = [sys.executable, "-c", CHILD, str(SRC), jsonio.dumps(doc), str(tmp_path)]
    for _ in ("miss", "hit"):  # the first child writes the entry, the second loads it
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
        assert jsonio.loads(out.stdout.splitlines()[-1]) == [0, EPERM, ENOSYS, 0]
        assert len(entries(tmp_path)) == 1
