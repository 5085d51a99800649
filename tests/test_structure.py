"""The package's shape, checked statically (issue 20, item 4): no import circles among
``ldprune_deploy`` modules, and no private name used outside its package.

Both checks parse every module with ``ast``; nothing is imported, so a circle that Python
happens to survive today (because one side imports inside a function) is still found.

Import edges. Every ``import`` / ``from … import`` anywhere in a module counts, at module
level *and* inside functions: a lazy import only postpones a circle, the two modules still
cannot be understood, tested or moved apart, which is what the issue is about. Imports under
``if TYPE_CHECKING:`` do not count: they never run. An edge goes to the module named (for
``from pkg import name`` to ``pkg.name`` when that is a module, else to ``pkg``); the parent
packages Python also initialises are not edges, else ``ldprune_deploy/__init__.py``, which
re-exports the public API, would put every module on a circle.

Packages, for the private-name rule: a direct subpackage of ``ldprune_deploy``
(``surgery``, ``data``, …) or a top-level module (``models``, ``conditioning``, …). A name
starting with one underscore (not a dunder) may be used only inside its package; elsewhere,
make it public with a docstring, or move it. The rule covers ``benchmarks/`` too (they use
the package from outside); ``tests/`` may reach into internals on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = "ldprune_deploy"

# Circles still allowed, as sorted tuples of module names; should end up empty.
CIRCLE_ALLOW: set[tuple[str, ...]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / PKG).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
           (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Import nodes anywhere in the tree, except under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _base(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a ``from … import`` names."""
    if not node.level:
        return node.module or ""
    pkg = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    pkg = pkg[:len(pkg) - (node.level - 1)]
    return ".".join(pkg + ([node.module] if node.module else []))


def _edges(module: str, path: Path, modules: dict[str, Path]):
    """(target module, imported name or None, node) for each import of an ldprune_deploy module."""
    tree = ast.parse(path.read_text(), str(path))
    for node in _imports(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in modules:
                    yield a.name, None, node
            continue
        base = _base(module, path, node)
        for a in node.names:
            sub = f"{base}.{a.name}"
            if sub in modules:
                yield sub, None, node
            elif base in modules:
                yield base, a.name, node


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: {t for t, _, _ in _edges(m, p, modules) if t != m} for m, p in modules.items()}


def _circles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Strongly connected components of more than one module (Tarjan), as sorted tuples."""
    index, low, on, stack, out = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(tuple(sorted(comp)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _package(module: str) -> str:
    """``ldprune_deploy.surgery.apply`` -> ``surgery``; ``ldprune_deploy.models`` -> ``models``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == PKG else module


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_uses(path: Path, module: str, modules: dict[str, Path]):
    """``(line, "target._name")`` for private names this file takes from another package."""
    tree = ast.parse(path.read_text(), str(path))
    mine, aliases = _package(module), {}
    for target, name, node in _edges(module, path, modules):
        if name is not None and _private(name) and _package(target) != mine:
            yield node.lineno, f"{target}.{name}"
        if name is None:   # a module bound to a local name: its attributes are checked below
            for a in node.names:
                if isinstance(node, ast.Import) and a.asname is None:
                    continue   # `import a.b` binds `a`; attribute chains are not followed
                local = a.asname or a.name.split(".")[-1]
                aliases[local] = target
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and _private(node.attr):
            target = aliases.get(node.value.id)
            if target and _package(target) != mine:
                yield node.lineno, f"{target}.{node.attr}"


def test_no_import_circles():
    circles = _circles(_graph())
    unexpected = [c for c in circles if c not in CIRCLE_ALLOW]
    assert not unexpected, "import circles (break them; a lazy import does not count as broken):\n" + \
        "\n".join("  " + " <-> ".join(c) for c in unexpected)
    stale = CIRCLE_ALLOW - set(circles)
    assert not stale, f"allow-listed circles that are gone, remove them from CIRCLE_ALLOW: {sorted(stale)}"


def test_no_private_name_crosses_a_package():
    modules = _modules()
    files = [(m, p) for m, p in modules.items()]
    files += [(f"benchmarks.{_module_name(p).split('.', 1)[-1]}", p) for p in sorted((ROOT / "benchmarks").rglob("*.py"))]
    found = [f"{p.relative_to(ROOT)}:{line}: {what}"
             for m, p in files for line, what in _private_uses(p, m, modules)]
    assert not found, "private names used outside their package (make them public or move them):\n  " + \
        "\n  ".join(found)


def test_stages_do_not_import_the_quality_benchmark_data():
    """``quality/`` (benchmark data builders) sits above the stages: only ``ldprune data`` uses it."""
    modules, q = _modules(), f"{PKG}.quality"
    users = sorted(f"{m} -> {t}" for m, p in modules.items() if not (m == q or m.startswith(q + "."))
                   and m != f"{PKG}.commands.data"
                   for t, _, _ in _edges(m, p, modules) if t == q or t.startswith(q + "."))
    assert not users, "core modules importing quality/ (move what they share into the core):\n  " + "\n  ".join(users)


def test_scanner_sees_function_level_and_relative_imports(tmp_path):
    """The circle finder itself: a lazy import inside a function closes a circle."""
    graph = _graph()
    assert f"{PKG}.errors" in graph[f"{PKG}.models"]            # module-level, relative
    assert _circles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [("a", "b")]
    src = tmp_path / "m.py"
    src.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .x import y\n"
                   "def f():\n    from .z import w\n")
    names = [n.module for n in _imports(ast.parse(src.read_text()))]
    assert "z" in names and "x" not in names
