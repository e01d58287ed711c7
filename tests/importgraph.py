"""Reading a package's import arrows from its source, for the tests that keep them one-way.

Every import counts: at module level, under ``TYPE_CHECKING`` and inside functions. A name
imported from a package (``from shipyard.engine.model import docs``) is an arrow to the
submodule when one exists by that name, else to the package.
"""

from __future__ import annotations

import ast
from pathlib import Path


def imported(path: Path) -> set[str]:
    """The absolute module names ``path`` imports (its relative imports left out)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def modules(src: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` (whose directory is ``src/<package path>``) by name."""
    root = src / package.replace(".", "/")
    found = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(src).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def arrows(path: Path, known: set[str] | dict[str, Path]) -> set[str]:
    """The modules of ``known`` that ``path`` imports: ``from p import x`` is an arrow to
    ``p.x`` when that is a module, else to ``p``."""
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                targets.add(sub if sub in known else node.module)
    return {target for target in targets if target in known}


def graph(src: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports (not itself)."""
    known = modules(src, package)
    return {name: arrows(path, known) - {name} for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            part = []
            while True:
                top = stack.pop()
                part.append(top)
                if top == node:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found
