"""The reference codes src/ raises, found by reading the code (for the error catalogue's test).

A code is a string that reaches an error's `reference`: the value of a `reference=` keyword, of
an assignment to `reference` (class attribute or local), of a `reference` parameter's default, or
an argument passed where a function of the same module takes `reference`. Names are resolved
through the module's constants and the constants it imports from other bastion modules;
conditional expressions give both branches. What is computed otherwise (`exc.reference`) passes
a code on and adds none.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path


def _module(path: Path, src: Path) -> str:
    return ".".join(path.relative_to(src).with_suffix("").parts).removesuffix(".__init__")


def _constants(tree: ast.Module) -> dict[str, str]:
    found: dict[str, str] = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = value.value
    return found


def references(src: Path) -> dict[str, set[str]]:
    """code -> {"path:line", ...} for every code the modules under `src/bastion` raise."""
    trees = {
        _module(path, src): (path, ast.parse(path.read_text(), str(path)))
        for path in sorted((src / "bastion").rglob("*.py"))
    }
    constants = {name: _constants(tree) for name, (_, tree) in trees.items()}
    found: dict[str, set[str]] = {}
    for name, (path, tree) in trees.items():
        names = dict(constants[name])
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module in constants:
                imported = constants[node.module]
                names.update(
                    {
                        (a.asname or a.name): imported[a.name]
                        for a in node.names
                        if a.name in imported
                    }
                )
        where = str(path.relative_to(src))
        for code, line in _codes(tree, names):
            found.setdefault(code, set()).add(f"{where}:{line}")
    return found


def _codes(tree: ast.Module, names: dict[str, str]) -> Iterator[tuple[str, int]]:
    takes_reference = {
        node.name: [a.arg for a in node.args.posonlyargs + node.args.args].index("reference")
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        and "reference" in [a.arg for a in node.args.posonlyargs + node.args.args]
    }

    def values(expr: ast.expr | None) -> Iterator[str]:
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            yield expr.value
        elif isinstance(expr, ast.Name) and expr.id in names:
            yield names[expr.id]
        elif isinstance(expr, ast.IfExp):
            yield from values(expr.body)
            yield from values(expr.orelse)

    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "reference":
                    yield from ((v, line) for v in values(keyword.value))
            func = node.func
            called = func.id if isinstance(func, ast.Name) else None
            if called in takes_reference and len(node.args) > takes_reference[called]:
                yield from ((v, line) for v in values(node.args[takes_reference[called]]))
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "reference" for t in targets):
                yield from ((v, line) for v in values(node.value))
        elif isinstance(node, ast.arguments):
            positional = node.posonlyargs + node.args
            defaults: list[ast.expr | None] = [None] * (len(positional) - len(node.defaults))
            pairs = [*zip(positional, [*defaults, *node.defaults], strict=True)]
            pairs += zip(node.kwonlyargs, node.kw_defaults, strict=True)
            for arg, default in pairs:
                if arg.arg == "reference":
                    yield from ((v, line) for v in values(default))
