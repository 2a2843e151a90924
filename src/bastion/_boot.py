"""A launcher's modules served from one file of code objects, never stale (docs/architecture.md).

A lean launcher (`.venv/bin/bastion-runc`) calls `install(archive, src, roots)` before its first
import of the package: the modules under `roots` (dotted names of packages, whose whole subtree
is taken, or of single modules; their parent packages come along) are then executed from code
objects marshalled into the one file `archive`, instead of each one being searched on `sys.path`
(a directory listing, stats, an open and a read of its `.pyc`, a stat of its source).

The archive can never serve stale code. Each entry records its source's mtime and size, as a
`.pyc` does; a module is served from the archive only after one `stat` of its source matches.
When a source differs, the archive is rebuilt at once (every changed or new source compiled, the
unchanged entries kept; written to a temporary file and renamed, so a concurrent reader sees the
old archive or the new one, whole) and the module is served from the rebuilt one. A missing or
unreadable archive, or one written by another Python (magic number, optimisation level), is
rebuilt likewise. When the archive cannot be written (a read-only install), the modules are
served all the same, from the code compiled in memory. A module the archive does not know and a
source that cannot be stat'ed (a name that does not exist, a container's process after
pivot_root) are left to the ordinary import system, which behaves as it would without this file.

The archive holds each module as importlib would compile it, but for one thing: a module's
`from __future__ import annotations` becomes the compiler flag it stands for. The statement
itself also imports the `__future__` module when the module runs (a search of sys.path and a
.pyc read, ~0.2-0.4 ms of every process); the flag alone makes the same code.

This module imports only built-in modules (`marshal`, `posix`, `sys`): it runs before any other,
and the `bastion` launcher can use it the same way with its own roots. Serving a module needs
nothing more; `os` (frozen, but ~1 ms with `_collections_abc`, `stat` and `posixpath`, most of
a lean `start` or `delete`'s imports: bastion/cli/runc/lean.py) is imported only to rebuild the
archive. For the same reason it has no `from __future__ import annotations` itself: its
annotations that name what only a type checker imports are quoted.
"""

import marshal
import posix
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import CodeType, ModuleType

# file layout: _SIGNATURE, 8-byte little-endian length of the marshalled header, the header
# (python's magic, optimisation level, {name: entry}), then the marshalled code objects.
_SIGNATURE = b"bastion-modules\x02"  # \x02: future annotations as a flag
_IMPORTLIB = sys.modules["_frozen_importlib_external"]
_SPEC: "type[ModuleSpec]" = sys.modules["_frozen_importlib"].ModuleSpec

# __future__.annotations.compiler_flag (CO_FUTURE_ANNOTATIONS), without importing __future__
_ANNOTATIONS_FLAG = 0x1000000

# name -> (is_package, source path, source mtime_ns, source size, offset, length)
Entry = tuple[bool, str, int, int, int, int]


class ModuleArchive:
    """The meta-path finder and loader of one archive (see the module docstring)."""

    def __init__(self, archive: str, src: str, roots: "Sequence[str]") -> None:
        self.archive = archive
        self.src = src
        self.roots = tuple(roots)
        self.index: dict[str, Entry] = {}
        # The code objects: read from `fd` on demand (at `base` + an entry's offset), or held in
        # `blob` once rebuilt (fd -1). A call imports ~20-70 of the ~130 modules; reading the whole
        # archive (~800 KB) cost ~0.5 ms of each process, its index alone ~0.04 ms.
        self.fd = -1
        self.fd_id = (0, 0)  # (st_dev, st_ino) of the archive `fd` was opened on
        self.base = 0
        self.blob: memoryview = memoryview(b"")
        self.rebuilds = 0  # how many times this process rebuilt the archive (for tests)
        if not self._load():
            self.rebuild()

    # -- the finder and loader ----------------------------------------------------------------
    def find_spec(
        self, name: str, path: object = None, target: object = None
    ) -> "ModuleSpec | None":
        entry = self.index.get(name)
        if entry is None:
            return None
        try:
            st = posix.stat(entry[1])
        except OSError:
            return None
        if st.st_mtime_ns != entry[2] or st.st_size != entry[3]:
            self.rebuild()
            entry = self.index.get(name)
            if entry is None:
                return None
        # a Loader by its methods; subclassing importlib.abc.Loader would cost an import
        spec = _SPEC(name, self, origin=entry[1], is_package=entry[0])  # type: ignore[arg-type]
        if entry[0]:
            spec.submodule_search_locations = [entry[1].rpartition("/")[0]]
        spec.has_location = True
        # __cached__ names the file that holds the code; set, it also spares the import system
        # working out a .pyc path for every module (cache_from_source)
        spec.cached = self.archive
        return spec

    def create_module(self, spec: "ModuleSpec") -> None:
        return None  # the default module object

    def exec_module(self, module: "ModuleType") -> None:
        entry = self.index[module.__name__]
        data = self._code(entry)
        if data is None:  # the descriptor is gone: the source matched at find_spec, compile it
            with open(entry[1], "rb") as f:
                code = compile(f.read(), entry[1], "exec", dont_inherit=True, optimize=-1)
        else:
            code = marshal.loads(data)
        exec(code, module.__dict__)

    def _code(self, entry: Entry) -> bytes | memoryview | None:
        """An entry's marshalled code object; None if the archive's descriptor was closed."""
        if self.fd < 0:
            return self.blob[entry[4] : entry[4] + entry[5]] if self.blob else None
        # pread: no shared file offset, so the init and its parent, both forked from one
        # process, read the same descriptor safely. It is close-on-exec: no container sees it.
        # The fstat guards against a descriptor closed behind our back (the init's closerange
        # where /proc is missing) and its number reused by another file.
        try:
            st = posix.fstat(self.fd)
            if (st.st_dev, st.st_ino) == self.fd_id:
                return posix.pread(self.fd, entry[5], self.base + entry[4])
        except OSError:
            pass
        self.fd = -1  # never ours again
        return None

    def is_package(self, name: str) -> bool:
        return self.index[name][0]

    # -- reading and writing the archive ---------------------------------------------------------
    def _header_key(self) -> tuple[bytes, int]:
        return (_IMPORTLIB.MAGIC_NUMBER, sys.flags.optimize)

    def _load(self) -> bool:
        """Read the archive's index and keep it open; False if it is missing, damaged, cut
        short or of another Python."""
        try:
            fd = posix.open(self.archive, posix.O_RDONLY | posix.O_CLOEXEC)
        except OSError:
            return False
        try:
            if not self._load_index(fd):
                posix.close(fd)
                return False
        except BaseException:
            posix.close(fd)
            raise
        st = posix.fstat(fd)
        self.fd, self.fd_id = fd, (st.st_dev, st.st_ino)
        return True

    def _load_index(self, fd: int) -> bool:
        size = len(_SIGNATURE) + 8
        try:
            head = posix.pread(fd, 65536, 0)  # the index is ~15 KB: one read as a rule
            total = posix.fstat(fd).st_size
        except OSError:
            return False
        if len(head) < size or not head.startswith(_SIGNATURE):
            return False
        length = int.from_bytes(head[len(_SIGNATURE) : size], "little")
        if size + length > total:
            return False
        if size + length > len(head):
            try:
                head += posix.pread(fd, size + length - len(head), len(head))
            except OSError:
                return False
        try:
            magic, optimize, index = marshal.loads(head[size : size + length])
        except (EOFError, ValueError, TypeError):
            return False
        if (magic, optimize) != self._header_key() or not isinstance(index, dict):
            return False
        self.base = size + length
        # Every entry must lie within the file: a cut-short archive is rebuilt, never half served.
        end = max((entry[4] + entry[5] for entry in index.values()), default=0)
        if self.base + end > total:
            return False
        self.index = index
        return True

    def sources(self) -> dict[str, tuple[bool, str]]:
        """Every module under the roots and their parent packages: name -> (is_package, path)."""
        import os  # only when the archive is rebuilt (module docstring)

        found: dict[str, tuple[bool, str]] = {}
        for root in self.roots:
            parts = root.split(".")
            for depth in range(1, len(parts)):  # the parent packages
                parent = ".".join(parts[:depth])
                found[parent] = (True, os.path.join(self.src, *parts[:depth], "__init__.py"))
            base = os.path.join(self.src, *parts)
            if os.path.isfile(base + ".py"):
                found[root] = (False, base + ".py")
                continue
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
                if "__init__.py" not in filenames:
                    dirnames[:] = []  # not a package: nothing below it is importable as ours
                    continue
                rel = os.path.relpath(dirpath, base)
                package = root if rel == "." else ".".join([root, *rel.split(os.sep)])
                for filename in sorted(filenames):
                    if not filename.endswith(".py"):
                        continue
                    path = os.path.join(dirpath, filename)
                    if filename == "__init__.py":
                        found[package] = (True, path)
                    else:
                        found[f"{package}.{filename[:-3]}"] = (False, path)
        return found

    def rebuild(self) -> None:
        """Compile what changed since the archive was written, keep the rest, write it back."""
        self.rebuilds += 1
        old_index = self.index
        index: dict[str, Entry] = {}
        chunks: list[bytes] = []
        offset = 0
        for name, (is_package, path) in self.sources().items():
            try:
                with open(path, "rb") as f:
                    st = posix.fstat(f.fileno())
                    old = old_index.get(name)
                    unchanged = old is not None and old[1:4] == (path, st.st_mtime_ns, st.st_size)
                    data = self._code(old) if unchanged and old is not None else None
                    if data is not None:
                        code = bytes(data)
                    else:
                        code = marshal.dumps(compile_module(f.read(), path))
            except (OSError, SyntaxError, ValueError):
                continue  # left to the import system, which reports it as usual
            index[name] = (is_package, path, st.st_mtime_ns, st.st_size, offset, len(code))
            chunks.append(code)
            offset += len(code)
        blob = b"".join(chunks)
        header = marshal.dumps((*self._header_key(), index))
        self.index, self.blob = index, memoryview(blob)
        if self.fd >= 0:
            posix.close(self.fd)  # served from memory from now on
            self.fd = -1
        self._write(b"".join((_SIGNATURE, len(header).to_bytes(8, "little"), header, blob)))

    def _write(self, data: bytes) -> None:
        import os  # only when the archive is rebuilt (module docstring)

        tmp = f"{self.archive}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        try:
            with open(tmp, "xb") as f:
                f.write(data)
            os.replace(tmp, self.archive)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def compile_module(source: bytes, path: str) -> "CodeType":
    """What importlib's SourceLoader compiles for a .pyc, with `from __future__ import
    annotations` turned into its compiler flag (the module docstring says why)."""
    import ast  # only when the archive is rebuilt

    tree = ast.parse(source, path)
    flags = 0
    for node in tree.body:
        if not isinstance(node, (ast.ImportFrom, ast.Expr)):
            break  # future imports come first, after the docstring
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "__future__"
            and [(alias.name, alias.asname) for alias in node.names] == [("annotations", None)]
        ):
            tree.body.remove(node)
            flags = _ANNOTATIONS_FLAG
            break
    code: CodeType = compile(tree, path, "exec", flags=flags, dont_inherit=True, optimize=-1)
    return code


def install(archive: str, src: str, roots: "Sequence[str]") -> ModuleArchive:
    """Serve the modules under `roots` (found in `src`) from `archive`, first on sys.meta_path."""
    finder = ModuleArchive(archive, src, roots)
    sys.meta_path.insert(0, finder)
    return finder
