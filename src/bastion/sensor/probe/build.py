"""Compile the probe: bpftool makes vmlinux.h from the kernel's BTF, clang makes the BPF object.

Both go into `<repo>/.cache/probe/` (never committed). The object's name carries a hash of the
C source and the kernel release, so a changed source or a new kernel rebuilds it and an unchanged
one costs a stat. `scripts/setup` calls `build_probe()`; `Probe` calls it too.
Needs Debian's clang, llvm, libbpf-dev (the bpf/*.h headers) and bpftool.
"""

from __future__ import annotations

import hashlib
import os
import subprocess

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bastion.bpf.c")
# The headers bastion.bpf.c includes from its own directory: part of the fingerprint.
HEADERS = tuple(
    os.path.join(os.path.dirname(SOURCE), name) for name in ("bastion_events.h", "bastion_record.h")
)
# src/bastion/sensor/probe/build.py -> the repository root.
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(SOURCE)))))
CACHE_DIR = os.path.join(REPO, ".cache", "probe")
OBJECT = os.path.join(CACHE_DIR, "bastion.bpf.o")
KERNEL_BTF = "/sys/kernel/btf/vmlinux"


class ProbeBuildError(RuntimeError):
    """bpftool or clang failed (or is missing); the message carries their output."""


def _run(argv: list[str]) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise ProbeBuildError(f"{argv[0]} not found (apt install clang llvm bpftool)") from None
    if done.returncode != 0:
        raise ProbeBuildError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr}")


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for path in (SOURCE, *HEADERS):
        with open(path, "rb") as f:
            digest.update(f.read())
    digest.update(os.uname().release.encode())
    return digest.hexdigest()[:16]


#: A probe object compiled elsewhere (the sensor's container image ships one, built by the setup
#: of the machine that made the image: the object is CO-RE, so it loads on other kernels with BTF).
PREBUILT_ENV = "BASTION_PROBE_OBJECT"


def build_probe(cache_dir: str = CACHE_DIR) -> str:
    """Return the path of the compiled probe object, building it if the source or kernel changed
    (or `$BASTION_PROBE_OBJECT`, a prebuilt one, when set)."""
    prebuilt = os.environ.get(PREBUILT_ENV)
    if prebuilt:
        if not os.path.isfile(prebuilt):
            raise ProbeBuildError(
                f"{PREBUILT_ENV}={prebuilt}: no such file (unset it to build the probe here)"
            )
        return prebuilt
    os.makedirs(cache_dir, exist_ok=True)
    stamp = os.path.join(cache_dir, "bastion.bpf.stamp")
    obj = os.path.join(cache_dir, "bastion.bpf.o")
    want = _fingerprint()
    try:
        with open(stamp) as f:
            if f.read() == want and os.path.exists(obj):
                return obj
    except FileNotFoundError:
        pass
    header = os.path.join(cache_dir, "vmlinux.h")
    tmp = f"{header}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as out:
            done = subprocess.run(
                ["bpftool", "btf", "dump", "file", KERNEL_BTF, "format", "c"],
                stdout=out,
                stderr=subprocess.PIPE,
                text=True,
                check=False,
            )
        if done.returncode != 0:
            raise ProbeBuildError(f"bpftool btf dump {KERNEL_BTF} failed:\n{done.stderr}")
        os.replace(tmp, header)
    except FileNotFoundError:
        raise ProbeBuildError("bpftool not found (apt install bpftool)") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    tmp_obj = f"{obj}.{os.getpid()}.tmp"
    try:
        flags = ["-O2", "-g", "-target", "bpf", "-D__TARGET_ARCH_x86", "-I", cache_dir]
        _run(["clang", *flags, "-c", SOURCE, "-o", tmp_obj])
        os.replace(tmp_obj, obj)
    finally:
        if os.path.exists(tmp_obj):
            os.unlink(tmp_obj)
    with open(stamp, "w") as f:
        f.write(want)
    return obj
