"""The `emo` import graph read from the sources (ast, nothing imported): which modules a file imports, function
bodies included, and everything running it imports in turn. Shared by the DVC deps test and the layering test."""

from __future__ import annotations

import ast
from pathlib import Path

from project import REPO


def module_path(name: str) -> Path | None:
    """The file of a dotted module name under the repository (a module or a package's __init__), if any."""
    base = REPO.joinpath(*name.split("."))
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)


def module_name(path: Path) -> str:
    """The dotted name of a source file under the repository, e.g. emo/core/__init__.py -> emo.core."""
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every `emo` module a source file imports anywhere in it, function bodies included:
    `import emo.a.b` -> emo.a.b; `from emo.a import b` -> emo.a.b when b is a module, else emo.a."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:  # relative: from the package, or from its parents
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                found.append((node.lineno, f"{source}.{alias.name}" if module_path(f"{source}.{alias.name}")
                              else source))
    return [(line, module) for line, module in found if module == "emo" or module.startswith("emo.")]


def parents(module: str) -> list[str]:
    """A module and the packages Python imports before it: emo.a.b -> emo, emo.a, emo.a.b."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def closure(path: Path) -> dict[str, Path]:
    """Every `emo` module (and package __init__) that running a source file imports, with its file."""
    seen: dict[str, Path] = {}
    todo = [path]
    while todo:
        for _, imported in imports(todo.pop()):
            for module in parents(imported):
                if module not in seen and (found := module_path(module)):
                    seen[module] = found
                    todo.append(found)
    return seen
