"""The decoder's compiled accelerator (accel.c): built by scripts/setup, loaded when present.

Measured (docs/watch.md "Where the time goes"), building one `Event` and its params dict per
record in Python cost more than the state update after it; accel.c decodes a whole batch in C
into the same `Event`s. The pure-Python decoder (decode.py) stays the definition and the
fallback: the extension is used only when it was built for this Python and this source (a
fingerprint in its file name), and ``BASTION_SENSOR_ACCEL=0`` turns it off. Nothing is
committed as a binary: `build_accel()` compiles accel.c with the system compiler into
``<repo>/.cache/accel/``, or ``$BASTION_SENSOR_ACCEL_DIR`` (CPython's headers come with python3-dev,
which the setup installs).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from types import ModuleType

from bastion.sensor.probe.build import REPO

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "accel.c")
#: Where the built object is kept and looked for: the checkout's cache, unless this variable
#: names another directory (the sensor's image has no checkout: deploy/kubernetes/make-context
#: builds the object into the image, whose Dockerfile sets the variable).
ACCEL_DIR_ENV = "BASTION_SENSOR_ACCEL_DIR"
CACHE_DIR = os.environ.get(ACCEL_DIR_ENV) or os.path.join(REPO, ".cache", "accel")
MODULE = "bastion_decode_accel"  # PyInit_<MODULE> in accel.c
#: "0" turns the accelerator off (the pure-Python decoder runs); unset or "1": on when built.
ACCEL_ENV = "BASTION_SENSOR_ACCEL"


class AccelBuildError(RuntimeError):
    """The compiler is missing or failed; the message carries its output."""


_fingerprints: dict[tuple[int, int], str] = {}


def _fingerprint() -> str:
    """A hash of accel.c and this Python; computed again only when the file changed (a stat,
    not a read, on every call: the loaders ask for it)."""
    info = os.stat(SOURCE)
    key = (info.st_mtime_ns, info.st_size)
    found = _fingerprints.get(key)
    if found is None:
        digest = hashlib.sha256()
        with open(SOURCE, "rb") as f:
            digest.update(f.read())
        digest.update(sys.version.encode())
        digest.update(str(sysconfig.get_config_var("EXT_SUFFIX")).encode())
        found = _fingerprints[key] = digest.hexdigest()[:16]
    return found


def object_path(cache_dir: str | None = None) -> str:
    """Where the extension built from this source for this Python lives (in `CACHE_DIR`
    unless `cache_dir` says otherwise)."""
    return os.path.join(cache_dir or CACHE_DIR, f"{MODULE}-{_fingerprint()}.so")


def build_accel(cache_dir: str | None = None) -> str:
    """Compile accel.c unless this source was already built for this Python; its path."""
    path = object_path(cache_dir)
    cache_dir = os.path.dirname(path)
    if os.path.exists(path):
        return path
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise AccelBuildError("no C compiler (apt install gcc python3-dev)")
    os.makedirs(cache_dir, exist_ok=True)
    include = sysconfig.get_paths()["include"]
    tmp = f"{path}.{os.getpid()}.tmp"
    argv = [cc, "-O2", "-Wall", "-shared", "-fPIC", "-I", include, SOURCE, "-o", tmp]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AccelBuildError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr}")
    # atomic: a concurrent loader sees the whole object or none. Objects of other sources stay
    # (a process that began before the source changed still looks for its own; they are small)
    os.replace(tmp, path)
    return path


_loaded: dict[str, ModuleType | None] = {}


def load(cache_dir: str | None = None) -> ModuleType | None:
    """The built extension, or None when it is turned off, not built, or fails to load (the
    caller then decodes in Python). Loaded once per path; one not built yet is looked for
    again at the next call."""
    if os.environ.get(ACCEL_ENV, "1") == "0":
        return None
    path = object_path(cache_dir)
    if path in _loaded:
        return _loaded[path]
    if not os.path.exists(path):
        return None  # looked for again next time: the setup may build it meanwhile
    module: ModuleType | None = None
    loader = importlib.machinery.ExtensionFileLoader(MODULE, path)
    spec = importlib.util.spec_from_file_location(MODULE, path, loader=loader)
    try:
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
    except ImportError:
        module = None  # e.g. built against another libpython: the Python path is correct
    _loaded[path] = module
    return module


def main() -> None:
    """`python -m bastion.sensor.probe.accel`: build it (scripts/setup) and print its path."""
    print(build_accel())


if __name__ == "__main__":
    main()
