"""The package's shape: a few top-level modules over subpackages whose imports point one way (no cycles), one
module that starts processes, and short modules."""

from __future__ import annotations

import ast
from pathlib import Path

from import_graph import imports, module_name
from project import REPO

PACKAGE = REPO / "emo"
MAX_TOP_LEVEL = 8  # modules directly in emo/, besides cli.py and __init__.py
MIN_SUBPACKAGES = 5
MAX_LINES = 300  # unless the module's docstring says why it is longer (it mentions "lines")
TOP = "top"  # emo/cli.py: the command
# Imports point down this order: a module imports its own subpackage or one ranked lower. audio and vision share a
# rank, so neither imports the other. The package's own __init__ (the version) is below everything.
RANKS = {"core": 0, "fetch": 1, "data": 2, "audio": 3, "vision": 3, "corpora": 4, "learn": 5, "studies": 6,
         "experiments": 7, "reporting": 8, "predict": 9, TOP: 10}
# Narrower than its rank allows: the corpora are lists of clips and their fetching, no signal processing.
ONLY = {"corpora": {"core", "fetch", "data"}}
EXECUTOR = "emo/core/executor.py"  # the one module that starts processes
PROCESS_MODULES = {"multiprocessing", "concurrent.futures", "joblib", "loky", "dask", "distributed"}
PROCESS_NAMES = {"get_context", "ProcessPoolExecutor"}


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def layer(module: str) -> str | None:
    """A module's subpackage (emo.data.split -> data), TOP for a top-level module, None for emo itself."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    return parts[1] if (PACKAGE / parts[1] / "__init__.py").is_file() else TOP


def allowed(source: str, target: str) -> bool:
    """Whether a module of layer `source` may import one of layer `target`."""
    if target == source:
        return True
    if source in ONLY:
        return target in ONLY[source]
    return RANKS[target] < RANKS[source]


def upward_imports() -> list[str]:
    """`file:line imports module (source layer -> target layer)` for every import against RANKS."""
    found = []
    for path in sources():
        source = layer(module_name(path))
        for line, module in imports(path):
            target = layer(module)
            if source and target and not allowed(source, target):
                found.append(f"{rel(path)}:{line} imports {module} ({source} -> {target})")
    return found


def graph() -> dict[str, dict[str, int]]:
    """module -> {imported emo module: first line}, module-level and function-level imports alike."""
    edges: dict[str, dict[str, int]] = {}
    for path in sources():
        name = module_name(path)
        edges[name] = {}
        for line, module in imports(path):
            if module != name:
                edges[name].setdefault(module, line)
    return edges


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, {}):
            if nxt not in edges:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def describe(component: list[str], edges: dict[str, dict[str, int]]) -> list[str]:
    """The imports that close a cycle, as `file:line imports module`."""
    files = {module_name(path): rel(path) for path in sources()}
    return [f"{files[m]}:{line} imports {t}" for m in component for t, line in sorted(edges[m].items())
            if t in component]


def process_users() -> dict[str, list[int]]:
    """Source file -> lines that import a process library or call a process pool (get_context, ...)."""
    found: dict[str, list[int]] = {}
    for path in [*sources(), *sorted((REPO / "stages").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names] + [a.name for a in node.names]
            elif isinstance(node, ast.Attribute):
                names = [node.attr]
            elif isinstance(node, ast.Name):
                names = [node.id]
            if any(n in PROCESS_NAMES or any(n == m or n.startswith(m + ".") or n.endswith("." + m)
                                             or f".{m}." in n for m in PROCESS_MODULES) for n in names):
                found.setdefault(rel(path), []).append(node.lineno)
    return {file: sorted(set(lines)) for file, lines in found.items()}


def long_modules() -> list[str]:
    """`file (N lines)` for every module over MAX_LINES whose docstring does not say why."""
    found = []
    for path in sources():
        text = path.read_text()
        count = len(text.splitlines())
        if count > MAX_LINES and "lines" not in (ast.get_docstring(ast.parse(text)) or ""):
            found.append(f"{rel(path)} ({count} lines)")
    return found


def test_few_top_level_modules() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in {"cli.py", "__init__.py"})
    assert len(top) <= MAX_TOP_LEVEL, top


def test_subpackages() -> None:
    found = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    assert len(found) >= MIN_SUBPACKAGES, found
    assert set(found) <= set(RANKS), "give a new subpackage its rank in RANKS"


def test_imports_point_down() -> None:
    found = upward_imports()
    assert not found, "imports against the ranks:\n" + "\n".join(found)


def test_no_import_cycles() -> None:
    edges = graph()
    found = [" <-> ".join(describe(c, edges)) for c in cycles(edges)]
    assert not found, "import cycles:\n" + "\n".join(found)


def test_the_layer_checks_catch_what_they_are_for() -> None:
    assert not allowed("core", "data") and not allowed("audio", "vision") and not allowed("corpora", "audio")
    assert allowed("reporting", "corpora") and allowed(TOP, "learn") and allowed("data", "data")
    assert cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]


def test_one_module_starts_processes() -> None:
    users = process_users()
    assert set(users) == {EXECUTOR}, (f"only {EXECUTOR} may use {', '.join(sorted(PROCESS_MODULES | PROCESS_NAMES))}"
                                      ":\n" + "\n".join(f"{file}: lines {lines}" for file, lines in users.items()))


def test_modules_are_short_or_say_why() -> None:
    found = long_modules()
    assert not found, f"split these, or say in the docstring why one is longer than {MAX_LINES} lines:\n" + "\n".join(
        found)
