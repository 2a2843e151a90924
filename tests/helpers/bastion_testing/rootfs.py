"""The test image: a busybox root filesystem, built once and cached under `<repo>/.cache`.

`busybox_rootfs()` returns `<repo>/.cache/rootfs/busybox-<version>-<hash>/`, where `<version>`
is the Debian version of busybox-static and `<hash>` covers this builder and the helper's source,
so a change to either builds a new image. The directory is read-only by convention: bundles copy
it (`bundle.make_bundle`), nothing writes into it.

It is built from Debian's own busybox-static package (`apt-get download`, or the copy in apt's
cache), verified against apt's SHA256 and with `dpkg-deb`, then laid out as a tiny distribution:
/bin/busybox, a symlink per applet, the usual directories, /etc/{passwd,group,hostname,hosts},
and `/usr/bin/bst-helper` (see `helper.py`). The build happens in a temporary directory that is
renamed into place, under a lock file, so parallel callers neither race nor see half an image.

Run `python -m bastion_testing.rootfs` to build it and print its path.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import os
import shutil
import subprocess
import tempfile
from typing import TYPE_CHECKING

from bastion_testing import helper

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CACHE = os.path.join(REPO, ".cache")
PACKAGE = "busybox-static"
APT_ARCHIVES = "/var/cache/apt/archives"

#: The unprivileged user of the image (also in /etc/passwd and /etc/group).
USER_UID = 1000
USER_NAME = "bst"

_DIRS = {  # path in the image -> mode
    "dev": 0o755,
    "proc": 0o555,
    "sys": 0o555,
    "tmp": 0o1777,
    "etc": 0o755,
    "root": 0o700,
    "run": 0o755,
    "var": 0o755,
    "var/tmp": 0o1777,
    "home": 0o755,
    "home/bst": 0o755,
    "usr/bin": 0o755,
}
_FILES = {
    "etc/passwd": (
        "root:x:0:0:root:/root:/bin/sh\n"
        "bst:x:1000:1000:bastion test user:/home/bst:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    ),
    "etc/group": "root:x:0:\nbst:x:1000:\nnogroup:x:65534:\n",
    "etc/hostname": "bastion\n",
    "etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
}


class ImageError(RuntimeError):
    """The test image could not be built (no busybox-static package, a bad .deb, no gcc)."""


def busybox_rootfs() -> str:
    """The path of the cached busybox root filesystem, building it first if needed."""
    version = package_version()
    parent = os.path.join(CACHE, "rootfs")
    final = os.path.join(parent, f"busybox-{version.partition(':')[2] or version}-{builder_hash()}")
    if os.path.isdir(final):
        return final
    os.makedirs(parent, exist_ok=True)
    with _locked(os.path.join(parent, ".lock")):
        if os.path.isdir(final):  # another caller built it while we waited
            return final
        _remove_stale(parent)
        deb = fetch_deb(version)
        tmp = tempfile.mkdtemp(prefix=".build-", dir=parent)
        try:
            _build(deb, tmp)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def builder_hash() -> str:
    """12 hex digits over what decides the image's content besides the package version."""
    digest = hashlib.sha256()
    for path in (os.path.abspath(__file__), helper.SOURCE):
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:12]


def package_version() -> str:
    """The installed busybox-static version, else apt's candidate."""
    query = _run(["dpkg-query", "-W", "-f=${db:Status-Status} ${Version}", PACKAGE], check=False)
    status, _, version = query.stdout.partition(" ")
    if query.returncode == 0 and status == "installed" and version:
        return version
    policy = _run(["apt-cache", "policy", PACKAGE], check=False)
    for line in policy.stdout.splitlines():
        key, _, value = line.strip().partition(": ")
        if key == "Candidate" and value and value != "(none)":
            return value
    raise ImageError(f"{PACKAGE} is neither installed nor known to apt: run scripts/setup")


def fetch_deb(version: str) -> str:
    """A verified `busybox-static_<version>_<arch>.deb` in `<repo>/.cache/debs`."""
    debs = os.path.join(CACHE, "debs")
    os.makedirs(debs, exist_ok=True)
    expected = _apt_sha256s(version)
    for path in sorted(glob.glob(os.path.join(debs, f"{PACKAGE}_*.deb"))):
        if _is_good_deb(path, version, expected):
            return path
    download = _run(["apt-get", "download", f"{PACKAGE}={version}"], cwd=debs, check=False)
    for path in sorted(glob.glob(os.path.join(debs, f"{PACKAGE}_*.deb"))):
        if _is_good_deb(path, version, expected):
            return path
    # No network or no apt lists: apt's own cache may hold the package that is installed.
    for path in sorted(glob.glob(os.path.join(APT_ARCHIVES, f"{PACKAGE}_*.deb"))):
        if _is_good_deb(path, version, expected):
            dest = os.path.join(debs, os.path.basename(path))
            shutil.copyfile(path, dest)
            return dest
    raise ImageError(
        f"no verified {PACKAGE} {version} .deb: apt-get download said: {download.stderr.strip()}"
    )


def _apt_sha256s(version: str) -> set[str]:
    show = _run(["apt-cache", "show", f"{PACKAGE}={version}"], check=False)
    return {
        line.split(":", 1)[1].strip()
        for line in show.stdout.splitlines()
        if line.startswith("SHA256:")
    }


def _is_good_deb(path: str, version: str, expected_sha256: set[str]) -> bool:
    """`dpkg-deb` reads it as busybox-static `version`, and its hash is apt's (when apt knows)."""
    fields = _run(["dpkg-deb", "-f", path, "Package", "Version"], check=False)
    if fields.returncode != 0:
        return False
    values = dict(line.split(": ", 1) for line in fields.stdout.splitlines() if ": " in line)
    if values.get("Package") != PACKAGE or values.get("Version") != version:
        return False
    if expected_sha256:
        with open(path, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() not in expected_sha256:
                return False
    return True


def _build(deb: str, root: str) -> None:
    os.chmod(root, 0o755)  # mkdtemp made it 0700
    _run(["dpkg-deb", "-x", deb, root])
    busybox = os.path.join(root, "bin", "busybox")
    applets = _run([busybox, "--list-full"]).stdout.split()
    if len(applets) < 100:
        raise ImageError(f"{busybox} --list-full printed only {len(applets)} applets")
    for applet in applets:
        if applet == "bin/busybox":
            continue
        link = os.path.join(root, applet)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if not os.path.lexists(link):
            os.symlink("/bin/busybox", link)
    for rel, mode in _DIRS.items():
        path = os.path.join(root, rel)
        os.makedirs(path, exist_ok=True)
        os.chmod(path, mode)  # explicit: makedirs' mode is filtered by the umask
    for rel, text in _FILES.items():
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)
    if os.geteuid() == 0:
        os.chown(os.path.join(root, "home", USER_NAME), USER_UID, USER_UID)
    try:
        helper.compile_helper(os.path.join(root, helper.PATH_IN_ROOTFS.lstrip("/")))
    except subprocess.CalledProcessError as exc:
        raise ImageError(f"compiling {helper.SOURCE} failed:\n{exc.stderr}") from exc


def _remove_stale(parent: str) -> None:
    """Called under the lock: half-built images of dead builders, and images of older sources."""
    for name in os.listdir(parent):
        if name.startswith((".build-", "busybox-")):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run(
    argv: list[str], *, cwd: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, cwd=cwd, check=check, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        raise ImageError(f"{' '.join(argv)} failed: {exc.stderr.strip()}") from exc
    except FileNotFoundError as exc:
        raise ImageError(f"{argv[0]} is not installed: run scripts/setup") from exc


if __name__ == "__main__":
    print(busybox_rootfs())
