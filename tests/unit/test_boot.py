"""bastion._boot: modules served from one archive of code objects, never stale.

Each case runs a fresh `python -S` (as the lean launchers do) on a small package made in
tmp_path, so the finder is the first on an otherwise ordinary sys.meta_path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

PROBE = """
import json, sys
sys.path.insert(0, {bastion_src!r})
sys.path.insert(0, {src!r})
from bastion._boot import install
finder = install({archive!r}, {src!r}, ("pkg", "single"))
out = {{"modules": {{}}}}
for name in {names!r}:
    try:
        module = __import__(name, fromlist=["*"])
    except Exception as exc:
        out["modules"][name] = {{"error": type(exc).__name__}}
        continue
    out["modules"][name] = {{
        "value": getattr(module, "VALUE", None),
        "archived": module.__spec__.loader is finder,
        "file": module.__file__,
        "cached": module.__cached__ == {archive!r},
    }}
out["rebuilds"] = finder.rebuilds
print(json.dumps(out))
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    _write(src / "pkg" / "__init__.py", "VALUE = 'pkg'\n")
    _write(src / "pkg" / "a.py", "VALUE = 1\n")
    _write(src / "pkg" / "sub" / "__init__.py", "")
    _write(src / "pkg" / "sub" / "b.py", "from pkg.a import VALUE as A\nVALUE = A + 10\n")
    _write(src / "pkg" / "data" / "notes.py", "VALUE = 'not a package'\n")  # no __init__.py
    _write(src / "single.py", "VALUE = 'single'\n")
    _write(src / "other.py", "VALUE = 'other'\n")
    return src


def _run(src: Path, names: list[str], archive: Path | None = None) -> dict[str, object]:
    archive = archive if archive is not None else src.parent / "modules.archive"
    code = PROBE.format(bastion_src=str(SRC), src=str(src), archive=str(archive), names=names)
    result = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    out: dict[str, object] = json.loads(result.stdout)
    return out


def _module(out: dict[str, object], name: str) -> dict[str, object]:
    modules = out["modules"]
    assert isinstance(modules, dict)
    entry: dict[str, object] = modules[name]
    return entry


def _touch_later(path: Path) -> None:
    """Move the mtime forward, as an edit a second later would (same size or not)."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_first_call_builds_the_archive_then_serves_from_it(tree: Path) -> None:
    names = ["pkg", "pkg.a", "pkg.sub.b", "single", "other"]
    first = _run(tree, names)
    assert first["rebuilds"] == 1
    assert (tree.parent / "modules.archive").is_file()
    second = _run(tree, names)
    assert second["rebuilds"] == 0
    for name, value in (("pkg", "pkg"), ("pkg.a", 1), ("pkg.sub.b", 11), ("single", "single")):
        entry = _module(second, name)
        assert entry["value"] == value
        assert entry["archived"] is True
    assert _module(second, "pkg.a")["file"] == str(tree / "pkg" / "a.py")
    assert _module(second, "pkg.a")["cached"] is True  # __cached__: the file holding the code
    # outside the roots: the ordinary import system
    assert _module(second, "other") == {
        "value": "other",
        "archived": False,
        "file": str(tree / "other.py"),
        "cached": False,
    }


def test_a_directory_without_init_is_not_taken_as_a_package(tree: Path) -> None:
    out = _run(tree, ["pkg.data.notes"])
    # a namespace package, found by the ordinary import system as it would be without the archive
    assert _module(out, "pkg.data.notes") == {
        "value": "not a package",
        "archived": False,
        "file": str(tree / "pkg" / "data" / "notes.py"),
        "cached": False,
    }


@pytest.mark.parametrize("same_size", [True, False], ids=["same-size", "other-size"])
def test_an_edited_source_is_never_served_stale(tree: Path, same_size: bool) -> None:
    _run(tree, ["pkg.sub.b"])
    a = tree / "pkg" / "a.py"
    a.write_text("VALUE = 2\n" if same_size else "VALUE = 200\n")
    _touch_later(a)
    out = _run(tree, ["pkg.sub.b", "pkg.a"])
    assert out["rebuilds"] == 1
    assert _module(out, "pkg.a") == {
        "value": 2 if same_size else 200,
        "archived": True,
        "file": str(a),
        "cached": True,
    }
    assert _module(out, "pkg.sub.b")["value"] == (12 if same_size else 210)
    again = _run(tree, ["pkg.a"])
    assert again["rebuilds"] == 0
    assert _module(again, "pkg.a")["value"] == (2 if same_size else 200)


def test_an_edit_that_keeps_the_mtime_but_not_the_size_is_seen(tree: Path) -> None:
    _run(tree, ["pkg.a"])
    a = tree / "pkg" / "a.py"
    st = a.stat()
    a.write_text("VALUE = 3000\n")
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    out = _run(tree, ["pkg.a"])
    assert out["rebuilds"] == 1
    assert _module(out, "pkg.a")["value"] == 3000


def test_a_new_module_joins_the_archive_at_the_next_rebuild(tree: Path) -> None:
    _run(tree, ["pkg.a"])
    _write(tree / "pkg" / "c.py", "VALUE = 'new'\n")
    # not known to the archive yet: found by the ordinary import system through pkg.__path__
    out = _run(tree, ["pkg.c"])
    assert _module(out, "pkg.c") == {
        "value": "new",
        "archived": False,
        "file": str(tree / "pkg" / "c.py"),
        "cached": False,
    }
    a = tree / "pkg" / "a.py"
    a.write_text("from pkg.c import VALUE\n")
    _touch_later(a)
    out = _run(tree, ["pkg.a", "pkg.c"])
    assert out["rebuilds"] == 1
    assert _module(out, "pkg.a")["value"] == "new"
    assert _module(out, "pkg.c")["archived"] is True


def test_a_deleted_source_is_not_served(tree: Path) -> None:
    _run(tree, ["pkg.a"])
    (tree / "pkg" / "a.py").unlink()
    out = _run(tree, ["pkg.a"])
    assert _module(out, "pkg.a") == {"error": "ModuleNotFoundError"}


def test_a_syntax_error_is_reported_by_the_import_system(tree: Path) -> None:
    _run(tree, ["pkg.a"])
    a = tree / "pkg" / "a.py"
    a.write_text("VALUE = (\n")
    _touch_later(a)
    out = _run(tree, ["pkg.a", "single"])
    assert _module(out, "pkg.a") == {"error": "SyntaxError"}
    assert _module(out, "single")["archived"] is True


@pytest.mark.parametrize(
    "content",
    [b"", b"garbage", b"bastion-modules\x01\xff\xff\xff\xff\xff\xff\xff\x7fxx"],
    ids=["empty", "garbage", "truncated"],
)
def test_a_damaged_archive_is_rebuilt(tree: Path, content: bytes) -> None:
    (tree.parent / "modules.archive").write_bytes(content)
    out = _run(tree, ["pkg.a"])
    assert out["rebuilds"] == 1
    assert _module(out, "pkg.a")["archived"] is True
    assert _run(tree, ["pkg.a"])["rebuilds"] == 0


def test_an_archive_cut_short_in_its_code_is_rebuilt(tree: Path) -> None:
    # The index is intact but the code objects it points at are not all there.
    _run(tree, ["pkg.a"])
    archive = tree.parent / "modules.archive"
    data = archive.read_bytes()
    archive.write_bytes(data[:-3])
    out = _run(tree, ["pkg.a", "pkg.sub.b", "single"])
    assert out["rebuilds"] == 1
    assert [_module(out, n)["value"] for n in ("pkg.a", "pkg.sub.b", "single")] == [1, 11, "single"]
    assert archive.read_bytes() == data
    assert _run(tree, ["pkg.a"])["rebuilds"] == 0


def test_the_archive_is_read_on_demand_from_a_close_on_exec_descriptor(tree: Path) -> None:
    """Only the index is read up front; a module's code is read when it is imported, from a
    descriptor no exec'd program inherits. A rebuild by another process in between (rename
    over the file) does not disturb what this one reads."""
    _run(tree, ["pkg.a"])
    archive = tree.parent / "modules.archive"
    code = f"""
import json, os, sys
sys.path.insert(0, {str(SRC)!r})
sys.path.insert(0, {str(tree)!r})
from bastion._boot import install
finder = install({str(archive)!r}, {str(tree)!r}, ("pkg", "single"))
fd = finder.fd
inheritable = os.get_inheritable(fd)
os.replace({str(archive)!r}, {str(archive)!r} + ".old")  # the file goes away: the fd stays
import pkg.sub.b, single
print(json.dumps([fd >= 0, inheritable, pkg.sub.b.VALUE, single.VALUE, finder.rebuilds]))
"""
    result = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(result.stdout) == [True, False, 11, "single", 0]


def test_a_descriptor_closed_and_reused_behind_its_back_is_never_read(tree: Path) -> None:
    """The init closes every descriptor where /proc is missing: a later import must not read
    whatever file took the archive's descriptor number, but compile the (matching) source."""
    _run(tree, ["pkg.a"])
    archive = tree.parent / "modules.archive"
    other = tree.parent / "other.bin"
    other.write_bytes(b"\xff" * 65536)
    code = f"""
import json, os, sys
sys.path.insert(0, {str(SRC)!r})
sys.path.insert(0, {str(tree)!r})
from bastion._boot import install
finder = install({str(archive)!r}, {str(tree)!r}, ("pkg", "single"))
number = finder.fd
os.close(number)
reused = os.open({str(other)!r}, os.O_RDONLY)
import pkg.sub.b, single
print(json.dumps([reused == number, finder.fd, pkg.sub.b.VALUE, single.VALUE, finder.rebuilds]))
"""
    result = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(result.stdout) == [True, -1, 11, "single", 0]


def test_an_archive_of_another_python_is_rebuilt(tree: Path) -> None:
    _run(tree, ["pkg.a"])
    archive = tree.parent / "modules.archive"
    data = bytearray(archive.read_bytes())
    header = data.index(b"\r\n", 16)  # the magic number ends with \r\n
    data[header - 1] ^= 0xFF
    archive.write_bytes(bytes(data))
    out = _run(tree, ["pkg.a"])
    assert out["rebuilds"] == 1
    assert _module(out, "pkg.a")["value"] == 1
    assert _run(tree, ["pkg.a"])["rebuilds"] == 0


def test_an_unwritable_archive_still_serves_fresh_code(tree: Path) -> None:
    archive = tree.parent / "no-such-dir" / "modules.archive"
    out = _run(tree, ["pkg.sub.b"], archive=archive)
    assert out["rebuilds"] == 1
    assert _module(out, "pkg.sub.b") == {
        "value": 11,
        "archived": True,
        "file": str(tree / "pkg" / "sub" / "b.py"),
        "cached": True,
    }
    assert not archive.parent.exists()
    assert list(tree.parent.glob("*.tmp")) == []


FUTURE_MODULE = '''"""A module that postpones its annotations."""

from __future__ import annotations

import sys


def f(x: Undefined) -> None: ...


VALUE = [f.__annotations__["x"], "__future__" in sys.modules, sys._getframe().f_lineno]
'''


def test_future_annotations_become_a_flag_not_an_import(tree: Path) -> None:
    """The archive compiles `from __future__ import annotations` as its compiler flag: the same
    postponed annotations and line numbers, without importing the `__future__` module."""
    _write(tree / "pkg" / "future.py", FUTURE_MODULE)
    line = next(n for n, text in enumerate(FUTURE_MODULE.splitlines(), 1) if "VALUE" in text)
    entry = _module(_run(tree, ["pkg.future"]), "pkg.future")
    assert entry["archived"] is True
    assert entry["value"] == ["Undefined", False, line]
