"""Hand-made layer tars for the image tests: `make_tar([file("a", b"x"), symlink("l", "/etc")])`.

Each builder returns a `(TarInfo, data)` pair; `make_tar` writes them in order, so a test can
put any name, link or type in any order (hostile layers included), and `compress` wraps the tar
in gzip or zstd.
"""

from __future__ import annotations

import gzip
import io
import tarfile

import zstandard

Item = tuple[tarfile.TarInfo, bytes | None]
MTIME = 1_700_000_000


def _info(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = MTIME
    return info


def file(name: str, data: bytes = b"", mode: int = 0o644, uid: int = 0, gid: int = 0) -> Item:
    info = _info(name, tarfile.REGTYPE, mode)
    info.size = len(data)
    info.uid, info.gid = uid, gid
    return info, data


def directory(name: str, mode: int = 0o755) -> Item:
    return _info(name, tarfile.DIRTYPE, mode), None


def symlink(name: str, target: str) -> Item:
    info = _info(name, tarfile.SYMTYPE, 0o777)
    info.linkname = target
    return info, None


def hardlink(name: str, target: str) -> Item:
    info = _info(name, tarfile.LNKTYPE, 0o644)
    info.linkname = target
    return info, None


def device(name: str, *, block: bool = False, major: int = 8, minor: int = 0) -> Item:
    info = _info(name, tarfile.BLKTYPE if block else tarfile.CHRTYPE, 0o666)
    info.devmajor, info.devminor = major, minor
    return info, None


def fifo(name: str) -> Item:
    return _info(name, tarfile.FIFOTYPE, 0o644), None


def make_tar(items: list[Item]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in items:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def compress(data: bytes, how: str) -> bytes:
    """`how`: "none", "gzip" or "zstd"."""
    if how == "gzip":
        return gzip.compress(data, mtime=0)
    if how == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data
