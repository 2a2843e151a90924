"""The build context: a directory, less what `.dockerignore` excludes, and the COPY/ADD sources
found in it.

`.dockerignore` follows moby's patternmatcher: one pattern a line, `#` comments, a leading `/`
and `./` dropped, `*` and `?` within one path component, `**` across any number of them, a
leading `!` re-including what an earlier pattern excluded; the last pattern that matches a
path (or one of its parent directories) decides.

A source names files inside the context only: a `..` that climbs out, or a symlink in the
context that points out of it, is never followed out (the symlink itself is copied, as Docker).
The digest of the sources (names, modes, owners' ids dropped, contents, link targets) keys the
build cache of a COPY/ADD.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import os
import re
import stat
from dataclasses import dataclass

from bastion.engine.errors import BuildStepError


@dataclass(frozen=True, slots=True)
class Source:
    """A COPY/ADD source: its host path and whether it names a directory (its content is
    copied, not the directory itself)."""

    path: str
    is_dir: bool


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                out.append("(?:.*/)?")
                i += 1
            else:
                out.append(".*")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(char))
            else:
                inner = pattern[i + 1 : end].replace("\\", "\\\\")
                if inner.startswith("!"):
                    inner = "^" + inner[1:]
                out.append(f"[{inner}]")
                i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


class IgnoreRules:
    """The patterns of a `.dockerignore` (empty: nothing ignored)."""

    def __init__(self, lines: list[str]) -> None:
        self.rules: list[tuple[re.Pattern[str], bool]] = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            pattern = os.path.normpath(line[1:].strip() if negated else line)
            pattern = pattern.lstrip("/")
            if pattern in ("", "."):
                continue
            self.rules.append((_pattern_regex(pattern), negated))

    @classmethod
    def of(cls, context: str) -> IgnoreRules:
        try:
            with open(os.path.join(context, ".dockerignore"), encoding="utf-8") as f:
                return cls(f.read().splitlines())
        except FileNotFoundError:
            return cls([])

    def ignored(self, relative: str) -> bool:
        """Whether the context path `relative` (`a/b/c`) is excluded."""
        if not self.rules:
            return False
        parts = relative.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        excluded = False
        for regex, negated in self.rules:
            if any(regex.match(p) for p in prefixes) if not negated else regex.match(relative):
                excluded = not negated
        return excluded


class BuildContext:
    """The context directory `root` with its `.dockerignore`."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        if not os.path.isdir(self.root):
            raise BuildStepError(
                f"the build context {root} is not a directory",
                hint="give the directory holding the files COPY and ADD name",
            )
        self.ignore = IgnoreRules.of(self.root)

    def relative(self, path: str) -> str:
        return os.path.relpath(path, self.root).replace(os.sep, "/")

    def sources(self, names: list[str], *, keyword: str) -> list[Source]:
        """The context files the COPY/ADD source patterns `names` match; `BuildStepError`
        for a name that matches nothing or climbs out of the context."""
        found: list[Source] = []
        for name in names:
            clean = os.path.normpath("/" + name).lstrip("/")  # `..` cannot climb past the root
            if os.path.normpath(name.lstrip("/")).startswith(".."):
                raise BuildStepError(
                    f"{keyword} {name}: the source is outside the build context",
                    hint="sources are paths inside the context directory",
                )
            target = os.path.join(self.root, clean) if clean != "." else self.root
            matches = (
                sorted(glob.glob(glob.escape(self.root) + "/" + clean))
                if _magic(clean)
                else [target]
            )
            kept = [
                m for m in matches if m == self.root or not self.ignore.ignored(self.relative(m))
            ]
            kept = [m for m in kept if os.path.lexists(m)]
            if not kept:
                raise BuildStepError(
                    f"{keyword} failed: file not found in build context or excluded by "
                    f".dockerignore: {name}",
                    hint="check the name, and that .dockerignore does not exclude it",
                )
            found.extend(Source(m, os.path.isdir(m) and not os.path.islink(m)) for m in kept)
        return found

    def files(self, source: Source) -> list[str]:
        """The paths a source copies, directories before their content, ignored ones left out."""
        if not source.is_dir:
            return [source.path]
        out = []
        for directory, dirs, files in os.walk(source.path):
            dirs.sort()
            for name in sorted(dirs + files):
                path = os.path.join(directory, name)
                if not self.ignore.ignored(self.relative(path)):
                    out.append(path)
            dirs[:] = [
                d
                for d in dirs
                if not self.ignore.ignored(self.relative(os.path.join(directory, d)))
            ]
        return out

    def digest(self, sources: list[Source]) -> str:
        """One digest over what the sources copy: names, modes, contents, link targets."""
        sha = hashlib.sha256()
        for source in sources:
            sha.update(f"source {self.relative(source.path)}\0".encode())
            for path in self.files(source):
                st = os.lstat(path)
                sha.update(f"{self.relative(path)}\0{stat.S_IMODE(st.st_mode):o}\0".encode())
                if stat.S_ISLNK(st.st_mode):
                    sha.update(b"link\0" + os.readlink(path).encode())
                elif stat.S_ISREG(st.st_mode):
                    with open(path, "rb") as f:
                        sha.update(hashlib.file_digest(f, "sha256").digest())
                else:
                    sha.update(b"dir" if stat.S_ISDIR(st.st_mode) else b"other")
        return "sha256:" + sha.hexdigest()


def _magic(name: str) -> bool:
    return any(c in name for c in "*?[") and fnmatch.translate(name) != re.escape(name)
